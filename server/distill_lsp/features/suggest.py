"""The shared path of inline and classic completion: snapshot, run the pipeline on the
engine, drop the answer if the document moved on meanwhile."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from ..completion import pipeline
from ..completion.pipeline import CompletionConfig, Snapshot, Suggestion
from ..engine.types import CancelToken, EngineError, StopReason
from ..context.positions import position_at

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)


@dataclass
class Answer:
    snapshot: Snapshot
    suggestion: Suggestion
    range: types.Range
    model_name: str


async def suggest(ls: DistillLanguageServer, uri: str, position: types.Position,
                  automatic: bool) -> Answer | None:
    """A suggestion at `position`, or None when there is nothing to show."""
    snap = ls.snapshot(uri, position, automatic)
    request_id = ls.next_request_id()
    if snap is None:
        logger.debug("%s: %s is not open", request_id, uri)
        return None
    if not ls.engine.ready:
        logger.debug("%s: model not ready (%s)", request_id, ls.engine.state.value)
        return None
    if automatic and ls.settings.debounce_ms > 0:
        await asyncio.sleep(ls.settings.debounce_ms / 1000)
        if ls.document_version(uri) != snap.version:
            logger.debug("%s: the user kept typing during the debounce window", request_id)
            return None
    uri = snap.uri  # the document's normalised uri: one key for the engine and the caches
    here = types.Position(*position_at(snap.text, snap.offset))
    info = ls.engine.info
    cached = ls.typed_ahead.lookup(uri, snap.prefix)
    if cached:
        logger.debug("%s: answered from the typed-ahead cache", request_id)
        return Answer(snap, Suggestion(cached, reason="typed-ahead cache"), types.Range(here, here),
                      info.name if info else "")
    profile = ls.settings.sampling_profile()
    config = CompletionConfig(profile=profile,
                              max_new_tokens=profile.max_new_tokens or ls.settings.max_new_tokens,
                              max_lines=ls.settings.max_lines,
                              context_tokens=ls.settings.context_tokens,
                              retries=ls.settings.retries,
                              min_token_probability=ls.settings.min_token_probability,
                              min_confidence=ls.settings.min_confidence)
    token = CancelToken()

    def work(backend: object, tok: CancelToken) -> Suggestion | None:
        if ls.document_version(uri) != snap.version:
            return None  # the document changed while this waited in the queue: stale, not generated
        return pipeline.run(snap, backend, tok, config, request_id)

    future = ls.engine.submit(work, key=uri, token=token)
    try:
        suggestion = await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        token.cancel(StopReason.CANCELLED)
        logger.debug("%s: cancelled by the client", request_id)
        raise
    except EngineError as exc:
        logger.warning("%s: no suggestion: %s", request_id, exc)
        if getattr(exc, "notice", ""):  # an endpoint's outage, told once
            ls.show_message(exc.notice, types.MessageType.Warning)
        return None
    if suggestion is not None and suggestion.notice:
        ls.show_message(suggestion.notice, types.MessageType.Warning)
    if suggestion is not None:
        _log(ls, request_id, config, suggestion)
        if suggestion.memory is not None:
            ls.documents.remember(uri, suggestion.memory)
    if suggestion is None or ls.document_version(uri) != snap.version:
        logger.debug("%s: superseded", request_id)
        return None
    if not suggestion.text:
        return None
    ls.typed_ahead.remember(uri, snap.prefix, suggestion.text)
    return Answer(snap, suggestion, types.Range(here, here), info.name if info else "")


def _log(ls: DistillLanguageServer, request_id: str, config: CompletionConfig, s: Suggestion) -> None:
    t = s.timings
    line = (f"{request_id}: profile={s.profile or config.profile.name} prompt_tokens={s.prompt_tokens} reused={s.reused_tokens} "
            f"new_tokens={s.new_tokens} context_ms={t.get('context_ms', 0):.0f} "
            f"ttft_ms={t.get('ttft_ms', 0):.0f} total_ms={t.get('total_ms', 0):.0f} tries={s.tries} {s.reason or 'ok'}")
    logger.debug("%s", line)
    if ls.protocol.trace != types.TraceValue.Off:
        ls.log_trace(types.LogTraceParams(message=line))
