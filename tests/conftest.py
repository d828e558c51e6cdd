"""Shared test set-up: offline model hubs, one converted-model cache for the whole run."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_CACHE = ROOT / ".cache" / "distill-lsp-test"

os.environ.setdefault("DISTILL_LSP_CACHE_DIR", str(TEST_CACHE))
# sessions decode eagerly: the compiled step has tests of its own, and a background build per
# test cache would compete with the tests for the CPU
os.environ.setdefault("DISTILL_LSP_COMPILE_STEP", "off")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
