"""Loading a resolved model with transformers: device and dtype choice, and the cache
that turns a GGUF file into safetensors once so later starts take seconds."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .resolve import ModelSpec
from .types import ModelInfo, ModelLoadError

logger = logging.getLogger(__name__)

_COMPLETE_MARKER = "distill-lsp-converted"
DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    info: ModelInfo


def pick_device(setting: str) -> str:
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {setting!r} was asked for but CUDA is not available here")
    return setting


def pick_dtype(setting: str, device: str) -> Any:
    import torch

    if setting != "auto":
        return getattr(torch, DTYPES[setting])
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def conversion_dir(gguf: Path, cache_dir: Path) -> Path:
    """Where the safetensors copy of `gguf` lives: keyed by path, size and mtime."""
    stat = gguf.stat()
    key = f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / "converted" / f"{gguf.stem}-{digest}"


def load_model(
    spec: ModelSpec, *, device: str = "auto", dtype: str = "auto", device_map: str = "",
    cache_dir: Path,
) -> LoadedModel:
    """Load `spec`; GGUF files go through the conversion cache."""
    started = time.perf_counter()
    dev = pick_device(device)
    torch_dtype = pick_dtype(dtype, dev)
    converted = False
    try:
        if spec.is_gguf:
            model, tokenizer, converted = _load_gguf(spec.path, cache_dir, torch_dtype)
        else:
            model, tokenizer = _load_directory(spec.path, torch_dtype, device_map)
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers raises many types for bad files
        raise ModelLoadError(f"could not load {spec.path}: {type(exc).__name__}: {exc}") from exc
    if not device_map:
        model.to(dev)
    model.eval()
    info = _model_info(spec, model, tokenizer, dev, torch_dtype, time.perf_counter() - started, converted)
    logger.info("model %s loaded on %s (%s) in %.1f s", info.name, info.device, info.dtype, info.load_s)
    return LoadedModel(model, tokenizer, info)


def _load_directory(path: Path, torch_dtype: Any, device_map: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "local_files_only": True}
    if device_map:
        kwargs["device_map"] = device_map
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model, tokenizer


def _load_gguf(gguf: Path, cache_dir: Path, torch_dtype: Any) -> tuple[Any, Any, bool]:
    """Load from the converted copy when present, else dequantize and save one."""
    target = conversion_dir(gguf, cache_dir)
    if (target / _COMPLETE_MARKER).is_file():
        try:
            model, tokenizer = _load_directory(target, torch_dtype, "")
            return model, tokenizer, True
        except Exception as exc:  # a damaged cache entry: rebuild it
            logger.warning("converted copy %s is unusable (%s); converting again", target, exc)
            shutil.rmtree(target, ignore_errors=True)
    model, tokenizer = _dequantize_gguf(gguf, torch_dtype)
    _save_conversion(model, tokenizer, target)
    return model, tokenizer, False


def _dequantize_gguf(gguf: Path, torch_dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s (first start only)", gguf)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch_dtype)
    # The weights are dequantized already; without this save_pretrained refuses the model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    return model, tokenizer


def _save_conversion(model: Any, tokenizer: Any, target: Path) -> None:
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / _COMPLETE_MARKER).write_text("ok\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        logger.info("saved converted model to %s", target)
    except OSError as exc:
        if not (target / _COMPLETE_MARKER).is_file():
            logger.warning("could not cache the converted model at %s: %s", target, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _model_info(spec: ModelSpec, model: Any, tokenizer: Any, device: str, dtype: Any,
                load_s: float, converted: bool) -> ModelInfo:
    config = model.config
    context = int(getattr(config, "max_position_embeddings", 0) or 2048)
    return ModelInfo(
        name=spec.name,
        source=spec.source,
        path=str(spec.path),
        device=str(getattr(model, "device", device)),
        dtype=str(dtype).removeprefix("torch."),
        context_length=context,
        model_type=str(getattr(config, "model_type", "")),
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
        special_tokens=tuple(_special_tokens(tokenizer)),
        load_s=load_s,
        from_conversion_cache=converted,
    )


def _special_tokens(tokenizer: Any) -> list[str]:
    tokens = set(getattr(tokenizer, "all_special_tokens", []) or [])
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    tokens.update(str(t) for t in added.values())
    return sorted(tokens)
