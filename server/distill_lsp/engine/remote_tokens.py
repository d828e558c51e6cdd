"""Token counting for an HTTP backend: the model's own tokenizer when it is on this
machine (offline), otherwise a character estimate.

The estimate counts one token per `CHARS_PER_TOKEN` characters, rounded up. Tokenizers of
current code models average 3.5-4.5 characters per token on source code and English, so
3 over-counts a little: a prompt built within the budget stays within the model's context.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .resolve import ModelSpec, find_in_hf_cache, resolve_model
from .types import EngineError

logger = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3


def estimate_tokens(text: str) -> int:
    """The documented estimate: one token per `CHARS_PER_TOKEN` characters, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class LocalTokenizer:
    """A tokenizer found on this machine and what its model config says."""

    tokenizer: Any
    source: str
    model_type: str = ""
    context_length: int = 0


def find_tokenizer(setting: str, remote_model: str, cache_dir: Path) -> LocalTokenizer | None:
    """The tokenizer named by `setting`, else `remote_model`'s from the local HF cache, else None.

    Never downloads. A `setting` that does not resolve is an error (the user asked for it);
    a `remote_model` that is not cached just means the estimate is used.
    """
    if setting.strip():
        try:
            spec = resolve_model(setting, "cpu")
        except EngineError as exc:
            raise EngineError(f"tokenizer {setting!r}: {exc}") from exc
        return _load(spec, cache_dir)
    if remote_model and len(remote_model.split("/")) == 2 and not remote_model.startswith(("/", ".", "~")):
        snapshot = find_in_hf_cache(remote_model)
        if snapshot is not None:
            return _load(ModelSpec(remote_model, "hf-cache", snapshot, "remoteModel in the local HF cache"), cache_dir)
    logger.info("no local tokenizer for %r: counting one token per %d characters", remote_model, CHARS_PER_TOKEN)
    return None


def _load(spec: ModelSpec, cache_dir: Path) -> LocalTokenizer:
    from transformers import AutoConfig, AutoTokenizer

    from .loader import conversion_dir

    folder, kwargs = spec.path, {}
    if spec.is_gguf:
        converted = conversion_dir(spec.path, cache_dir)
        if (converted / "tokenizer_config.json").is_file():
            folder = converted  # the local backend converted this GGUF before: its files load fast
        else:
            folder, kwargs = spec.path.parent, {"gguf_file": spec.path.name}
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **kwargs)
    config = AutoConfig.from_pretrained(folder, local_files_only=True, **kwargs)
    context = int(getattr(config, "max_position_embeddings", 0) or 0)
    logger.info("tokenizer for the prompt budget: %s (%s)", spec.name, folder)
    return LocalTokenizer(tokenizer, f"{spec.name} [{spec.source}]", getattr(config, "model_type", "") or "", context)
