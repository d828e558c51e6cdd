"""Builds the backend that settings ask for (the one place that knows every backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..settings import Settings
from .openai import EndpointConfig, OpenAIBackend
from .remote_tokens import find_tokenizer
from .resolve import resolve_model
from .types import ModelLoadError


def model_key(settings: Settings) -> tuple[Any, ...]:
    """Settings that require loading the model (or connecting) again when they change."""
    if settings.backend == "openai":
        return ("openai", settings.endpoint, settings.remote_model, settings.api_key_env, settings.tokenizer,
                settings.cache_dir, settings.connect_timeout, settings.first_token_timeout, settings.total_timeout)
    return (settings.model, settings.device, settings.dtype, settings.device_map,
            settings.cache_dir, settings.threads, settings.quantize, settings.kernels, settings.prefix_cache_mb, settings.compile_step)


def make_backend_factory(settings: Settings) -> Callable[[], Any]:
    """A callable, run on the engine worker, that resolves and loads the model."""
    if settings.backend == "openai":
        return lambda: make_openai_backend(settings)

    def build() -> Any:
        # torch and transformers load here, on the engine worker, not at server start
        from .loader import load_model
        from .local import LocalBackend
        from .step_build import LOAD_SETTINGS

        spec = resolve_model(settings.model, settings.device)
        loaded = load_model(spec, device=settings.device, dtype=settings.dtype,
                            device_map=settings.device_map, cache_dir=settings.resolved_cache_dir())
        return LocalBackend(loaded, threads=settings.threads or physical_cores(),
                            quantize=settings.quantize, prefix_cache_mb=settings.prefix_cache_mb,
                            kernels=settings.kernels, cache_dir=settings.resolved_cache_dir(),
                            compile_from={key: getattr(settings, key) for key in LOAD_SETTINGS}
                            if settings.compile_step == "auto" else None)

    return build


def endpoint_config(settings: Settings) -> EndpointConfig:
    return EndpointConfig(endpoint=settings.endpoint, model=settings.remote_model, api_key_env=settings.api_key_env,
                          connect_timeout=float(settings.connect_timeout),
                          first_token_timeout=float(settings.first_token_timeout),
                          total_timeout=float(settings.total_timeout))


def make_openai_backend(settings: Settings) -> OpenAIBackend:
    """Connect to the OpenAI-compatible endpoint, with a local tokenizer where there is one."""
    if not settings.endpoint:
        raise ModelLoadError("backend `openai` needs `endpoint`, the server's base URL (e.g. http://gpu-box:8000/v1)")
    local = find_tokenizer(settings.tokenizer, settings.remote_model, settings.resolved_cache_dir())
    return OpenAIBackend(endpoint_config(settings), local)


def physical_cores() -> int:
    import os

    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
