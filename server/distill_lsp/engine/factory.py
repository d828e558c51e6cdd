"""Builds the backend that settings ask for (the one place that knows every backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..settings import Settings
from .resolve import resolve_model


def model_key(settings: Settings) -> tuple[Any, ...]:
    """Settings that require loading the model again when they change."""
    return (settings.model, settings.device, settings.dtype, settings.device_map,
            settings.cache_dir, settings.threads, settings.quantize, settings.prefix_cache_mb)


def make_backend_factory(settings: Settings) -> Callable[[], Any]:
    """A callable, run on the engine worker, that resolves and loads the model."""

    def build() -> Any:
        # torch and transformers load here, on the engine worker, not at server start
        from .loader import load_model
        from .local import LocalBackend

        spec = resolve_model(settings.model, settings.device)
        loaded = load_model(spec, device=settings.device, dtype=settings.dtype,
                            device_map=settings.device_map, cache_dir=settings.resolved_cache_dir())
        return LocalBackend(loaded, threads=settings.threads or physical_cores(),
                            quantize=settings.quantize, prefix_cache_mb=settings.prefix_cache_mb)

    return build


def physical_cores() -> int:
    import os

    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
