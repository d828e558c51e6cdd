"""The shared path of inline and classic completion: one snapshot of the document, the
pipeline run on the engine, and the answer committed unless the document moved on.

The request watches its document from the snapshot on: an edit (or a close) cancels its
token, so a job still queued is skipped without generating, a running one stops at its
next decode step, and `_commit`, the one place that decides what is shown, answers empty.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from ..completion import pipeline
from ..completion.speculation import accepted, after_accept
from ..completion.types import CompletionConfig, Snapshot, Suggestion
from ..engine.roles import COMPLETION, role_settings
from ..context.positions import position_at
from ..engine.types import Backend, CancelToken, EngineError, StopReason

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)


@dataclass
class PlacedSuggestion:
    """A suggestion and where it goes: what the completion handlers turn into LSP items."""

    snapshot: Snapshot
    suggestion: Suggestion
    range: types.Range
    model_name: str
    config: CompletionConfig | None = None
    """The settings it was generated with (None: served from the typed-ahead cache)."""


async def suggest(ls: DistillLanguageServer, uri: str, position: types.Position,
                  automatic: bool) -> PlacedSuggestion | None:
    """A suggestion at `position`, or None when there is nothing to show."""
    snap = ls.snapshot(uri, position, automatic)
    request_id = ls.next_request_id()
    if snap is None:
        logger.debug("%s: %s is not open", request_id, uri)
        return None
    if not ls.engine.ready:
        logger.debug("%s: model not ready (%s)", request_id, ls.engine.state.value)
        return None
    ls.suggestion_stats.saw_document(snap.uri, snap.text, snap.offset)  # an accept without its command
    token = CancelToken()
    with ls.documents.watching(snap.uri, lambda: token.cancel(StopReason.SUPERSEDED)):
        if automatic and ls.settings.debounce_ms > 0:
            await asyncio.sleep(ls.settings.debounce_ms / 1000)  # a keystroke meanwhile cancels `token`
        cached = ls.typed_ahead.lookup(snap.uri, snap.prefix)
        if cached:
            logger.debug("%s: answered from the typed-ahead cache", request_id)
            return _commit(ls, snap, Suggestion(cached, reason="typed-ahead cache"), token, request_id)
        config = completion_config(ls)
        suggestion = await _speculated(ls, snap, config, request_id)
        if suggestion is None:
            suggestion = await _generate(ls, snap, token, request_id, config)
        placed = _commit(ls, snap, suggestion, token, request_id, config)
        if placed is not None:
            ls.typed_ahead.remember(snap.uri, snap.prefix, placed.suggestion.text)
        return placed


def _commit(ls: DistillLanguageServer, snap: Snapshot, suggestion: Suggestion | None, token: CancelToken,
            request_id: str, config: CompletionConfig | None = None) -> PlacedSuggestion | None:
    """What is shown: the suggestion, unless its document changed since the snapshot."""
    if suggestion is None or token.cancelled:
        logger.debug("%s: superseded", request_id)
        return None
    if not suggestion.text:
        return None
    here = types.Position(*position_at(snap.text, snap.offset))
    info = ls.engine.info
    return PlacedSuggestion(snap, suggestion, types.Range(here, here), info.name if info else "", config)


def completion_config(ls: DistillLanguageServer) -> CompletionConfig:
    settings = ls.settings
    profile = settings.sampling_profile()
    return CompletionConfig(profile=profile,
                            max_new_tokens=profile.max_new_tokens or settings.max_new_tokens,
                            max_lines=settings.max_lines,
                            context_tokens=settings.context_tokens,
                            retries=settings.retries,
                            min_token_probability=settings.min_token_probability,
                            min_confidence=settings.min_confidence)


async def _speculated(ls: DistillLanguageServer, snap: Snapshot, config: CompletionConfig,
                      request_id: str) -> Suggestion | None:
    """The suggestion computed ahead for exactly this document (the user accepted the last
    one), waiting for it if it is still being computed; None when there is none to use."""
    speculation = ls.speculations.take(snap.uri, snap.text, snap.offset, config)
    if speculation is None:
        return None
    suggestion = await asyncio.wrap_future(speculation.future)
    if not isinstance(suggestion, Suggestion) or suggestion.stopped_early:
        return None  # stopped by other work before it was done
    ls.speculations.used(suggestion)
    logger.debug("%s: answered from the speculation started %.0f ms before", request_id,
                 (time.perf_counter() - speculation.started) * 1000)
    return suggestion


def speculate(ls: DistillLanguageServer, placed: PlacedSuggestion, item_id: str) -> None:
    """Start computing the suggestion that will be wanted once `placed` is accepted, at the
    engine's lowest priority: any real request stops it."""
    snap, text = placed.snapshot, placed.suggestion.text
    ls.suggestion_stats.expect(snap.uri, item_id, *after_accept(snap, text))
    if placed.config is None or not text or not role_settings(ls.settings, COMPLETION).speculates():
        return
    speculation = ls.speculations.expect(snap, text, placed.config, item_id)
    background = dataclasses.replace(placed.config, background=True)
    request_id = f"{item_id}-next"

    def work(backend: Backend, tok: CancelToken) -> Suggestion:
        return pipeline.run(accepted(snap, text, ls.speculations.parser), backend, tok, background, request_id)

    speculation.future = ls.engine.submit_idle(work, key=f"{snap.uri}#next")


async def _generate(ls: DistillLanguageServer, snap: Snapshot, token: CancelToken,
                    request_id: str, config: CompletionConfig) -> Suggestion | None:
    """The pipeline's suggestion, run on the engine (None: the job was superseded)."""
    if token.cancelled:
        return None  # the document changed during the debounce wait: not generated
    future = ls.engine.submit(lambda backend, tok: pipeline.run(snap, backend, tok, config, request_id),
                              key=snap.uri, token=token)
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
    if suggestion is not None:
        if suggestion.notice:
            ls.show_message(suggestion.notice, types.MessageType.Warning)
        _log(ls, request_id, config, suggestion)
    return suggestion


def _log(ls: DistillLanguageServer, request_id: str, config: CompletionConfig, s: Suggestion) -> None:
    t = s.timings
    line = (f"{request_id}: profile={s.profile or config.profile.name} prompt_tokens={s.prompt_tokens} reused={s.reused_tokens} "
            f"new_tokens={s.new_tokens} context_ms={t.get('context_ms', 0):.0f} "
            f"ttft_ms={t.get('ttft_ms', 0):.0f} total_ms={t.get('total_ms', 0):.0f} tries={s.tries} {s.reason or 'ok'}")
    logger.debug("%s", line)
    if ls.protocol.trace != types.TraceValue.Off:
        ls.log_trace(types.LogTraceParams(message=line))
