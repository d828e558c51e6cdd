"""Logging set-up: stderr or a file, never stdout (stdout carries the protocol)."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str = "info", log_file: str | None = None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pygls logs every message body at info level: keep that to debug runs.
    if root.level > logging.DEBUG:
        logging.getLogger("pygls").setLevel(logging.WARNING)
    _quiet_progress_bars()
    for noisy in ("transformers", "accelerate", "huggingface_hub", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))


def _quiet_progress_bars() -> None:
    """Library progress bars would spam the log; the editor gets LSP progress instead."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
