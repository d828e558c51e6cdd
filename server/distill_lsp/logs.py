"""Logging set-up: stderr or a file, never stdout (stdout carries the protocol); secrets
(API keys, tokens, Authorization headers) are masked in every record."""

from __future__ import annotations

import logging
import re
import sys

_SECRET_FIELD = re.compile(
    r"(?i)(\b(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|token|authorization|password|secret)\b"
    r"[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)([^\s\"',;}]+)")
_SECRET_VALUE = re.compile(r"\b(?:sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,}|Bearer\s+[A-Za-z0-9._~+/-]{8,})")
MASK = "***"


def redact(text: str) -> str:
    """`text` with API keys and tokens replaced by ***."""
    text = _SECRET_FIELD.sub(lambda m: m.group(1) + MASK, text)
    return _SECRET_VALUE.sub(MASK, text)


class RedactSecrets(logging.Filter):
    """Masks secrets in the formatted message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(level: str = "info", log_file: str | None = None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
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
