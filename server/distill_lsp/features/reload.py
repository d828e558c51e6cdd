"""`workspace/executeCommand distill.reload`: load the model again, e.g. after a failed load
(a model file fixed or copied in meanwhile). Over stdio it also reloads a loaded model; a
server shared over TCP reloads only a model that failed, since the others use it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ..engine.worker import EngineState

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

RELOAD_COMMAND = "distill.reload"


def register(server: DistillLanguageServer) -> None:
    @server.command(RELOAD_COMMAND)
    def reload(ls, *arguments):  # type: ignore[no-untyped-def]  # pygls resolves annotations at run time
        return reload_model(cast("DistillLanguageServer", ls))


def reload_model(ls: DistillLanguageServer) -> dict[str, Any]:
    """Start the load; answers at once with the engine's state (distill/status follows)."""
    states = {engine.state for engine in ls.engines().values()}
    state = EngineState.FAILED if EngineState.FAILED in states else ls.engine.state
    if ls.shared and state in (EngineState.READY, EngineState.LOADING):
        return {"reloading": False, "state": state.value,
                "reason": "this server is shared: only a model that failed to load is loaded again"}
    ls.ensure_model(force=True)
    return {"reloading": True, "state": ls.engine.state.value}
