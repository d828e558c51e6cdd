"""Explicit requests (Explain / Fix / Document) wait for a model that is still loading, with
a progress bar saying so, for at most `loadWaitSeconds`. Completions never wait: they
answer empty until the model is ready."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from ..engine.worker import EngineSession, EngineState
from .progress import begin_progress, end_progress

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)

RETRY_HINT = "change the settings or run the distill.reload command to try again"


async def wait_for_model(ls: DistillLanguageServer, title: str, engine: EngineSession | None = None) -> str | None:
    """None once the model (of `engine`, default the completion one) is ready; otherwise why
    it is not (failed, or still loading after `loadWaitSeconds`)."""
    engine = engine or ls.engine
    if engine.ready:
        return None
    loading = engine.load_in_progress()
    if loading is None:
        if engine.state is EngineState.FAILED:
            return f"the model could not be loaded ({engine.error}); {RETRY_HINT}"
        return f"the model is not ready ({engine.state.value})"
    limit = ls.settings.load_wait_seconds
    token = f"distill-wait-{uuid.uuid4()}"
    shown = await begin_progress(ls, token, f"distill-lsp: {title}", "waiting for the model to load")
    outcome = "ready"
    try:
        await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(loading)), limit)
    except TimeoutError:
        outcome = "still loading"
        return (f"the model is still loading after {limit:g} s (loadWaitSeconds); "
                "ask again when it is ready")
    except Exception as exc:  # the load's own failure, already told by the loader: say it here too
        outcome = "failed"
        return f"the model could not be loaded ({exc}); {RETRY_HINT}"
    finally:
        end_progress(ls, shown, token, outcome)
    logger.debug("%s waited for the model to load", title)
    return None
