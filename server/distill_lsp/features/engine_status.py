"""`distill/engineStatus`: what the shared engine holds, for a client or a test to check
that many sessions share one model (and how much memory its parameters take)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

ENGINE_STATUS = "distill/engineStatus"


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


def register(server: DistillLanguageServer) -> None:
    @server.feature(ENGINE_STATUS)
    def status(ls, params):  # type: ignore[no-untyped-def]  # pygls resolves annotations at run time
        return engine_status(ls)
