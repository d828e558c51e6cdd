"""`workspace/executeCommand distill.status`, the one status request: what this running
server is doing: the model and how it runs, the active profile of each feature, the
engine's queue and prefix cache, memory, and the engine every session shares
(`sharedEngine`: its id, model loads, sessions, parameter bytes). `doctor` answers the
same questions before a server runs. (The `distill/status` notification is another
thing: the model's load state, sent when a load ends; see `server.LOAD_STATE`.)"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import tracemalloc
from typing import TYPE_CHECKING, Any, cast

from ..engine.roles import COMPLETION, role_settings
from .models_status import models_status

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)

STATUS_COMMAND = "distill.status"
TOP_ALLOCATIONS = 12
"""Python allocation sites listed when the server runs under tracemalloc (a leak hunt): those
that grew most since the first status asked for."""


def register(server: DistillLanguageServer) -> None:
    @server.command(STATUS_COMMAND)
    def status(ls, *arguments):  # type: ignore[no-untyped-def]  # pygls resolves annotations at run time
        return server_status(cast("DistillLanguageServer", ls))


def server_status(ls: DistillLanguageServer) -> dict[str, Any]:
    settings = ls.settings
    engine = ls.engine
    info = engine.info
    backend = engine.backend
    prefix = getattr(backend, "prefix", None)
    return {
        "engine": engine.state.value,
        "error": engine.error,
        "model": dataclasses.asdict(info) if info is not None else None,
        "profiles": {
            "completion": settings.sampling_profile().describe(),
            "explain": settings.sampling_profile(settings.explain_profile).describe(),
            "fix": settings.sampling_profile(settings.fix_profile).describe(),
            "document": settings.sampling_profile(settings.document_profile).describe(),
        },
        "activeProfile": settings.profile,
        "queue": engine.pending(),
        "prefixCache": None if prefix is None else {
            "entries": len(prefix), "mib": round(prefix.nbytes() / 2**20, 1), "budgetMiB": settings.prefix_cache_mb,
            "hits": prefix.hits, "misses": prefix.misses},
        "debounceMs": settings.debounce_ms,
        "suggestions": ls.suggestion_stats.as_dict(),
        "speculation": {"enabled": role_settings(settings, COMPLETION).speculates(), "ready": ls.speculations.ready(),
                        **ls.speculations.figures()},
        "memory": _memory(info.device if info is not None else "cpu"),
        "sharedEngine": engine_status(ls),
        "models": models_status(ls),
        "workspace": ls.repo.status(),
    }


def parameter_bytes(backend: Any) -> int:
    """Bytes of the loaded model's parameters (0 for a backend without a local model)."""
    model = getattr(backend, "model", None)
    parameters = getattr(model, "parameters", None)
    if parameters is None:
        return 0
    return sum(p.numel() * p.element_size() for p in parameters())


def engine_status(ls: DistillLanguageServer) -> dict[str, Any]:
    engine = ls.engine.engine
    info = engine.info
    return {
        "state": engine.state.value,
        "engineId": f"{id(engine):x}",
        "loads": engine.loads,
        "sessions": len(engine.sessions),
        "session": ls.session_id,
        "pending": engine.pending(),
        "backend": info.source if info else "",
        "model": info.name if info else "",
        "device": info.device if info else "",
        "parameterBytes": parameter_bytes(engine.backend),
    }


_first_snapshot: list[tracemalloc.Snapshot] = []


def _allocation_growth() -> list[str]:
    """The Python allocation sites that grew most since the first status under tracemalloc."""
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    if not _first_snapshot:
        _first_snapshot.append(snapshot)
    return [f"{stat.traceback[0].filename}:{stat.traceback[0].lineno} {stat.size_diff / 2**10:+.0f} KiB "
            f"in {stat.count_diff:+d} blocks"
            for stat in snapshot.compare_to(_first_snapshot[0], "lineno")[:TOP_ALLOCATIONS]]


def _memory(device: str) -> dict[str, float]:
    from ..engine.memory import heap_figures

    out: dict[str, float] = {}
    try:
        import psutil

        out["rssMiB"] = round(psutil.Process(os.getpid()).memory_info().rss / 2**20, 1)
    except ImportError:
        pass
    out |= heap_figures()
    out["pythonBlocks"] = sys.getallocatedblocks()
    out["pythonThreads"] = threading.active_count()
    if tracemalloc.is_tracing():  # the server was started with PYTHONTRACEMALLOC set
        out["pythonAllocationGrowth"] = _allocation_growth()  # type: ignore[assignment]
    if device.startswith("cuda"):
        import torch

        out["cudaAllocatedMiB"] = round(torch.cuda.memory_allocated() / 2**20, 1)
        out["cudaPeakMiB"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out
