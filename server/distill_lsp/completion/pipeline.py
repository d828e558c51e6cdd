"""The completion pipeline: the driver of its stages, each in its own module.

    should_complete -> context -> template    prompt.plan (rules.py, context/, templates.py)
    -> generate                                generate.request_for, the backend's generate
    -> postprocess                             postprocess.postprocess
    -> gate                                    gate.syntax_gate, gate.first_line_confidence

`run` executes on the engine worker (it tokenizes and generates through the backend it is
given); every stage before and after generation is a plain function of strings and a
parse tree.
"""

from __future__ import annotations

import logging
import time

from ..engine.types import Backend, CancelToken, GenerationResult
from .gate import UNSURE, first_line_confidence, longest_valid_head, syntax_gate
from .generate import request_for, worth_another_try
from .postprocess import drop_partial_line, postprocess
from .prompt import Plan, plan
from .rules import Mode
from .types import CompletionConfig, Snapshot, Suggestion
from .whitespace import as_seen

logger = logging.getLogger(__name__)


def run(snap: Snapshot, backend: Backend, token: CancelToken, config: CompletionConfig,
        request_id: str = "") -> Suggestion:
    """The whole pipeline for one request, on the engine worker."""
    started = time.perf_counter()
    p = plan(snap, backend, config)
    if isinstance(p, Suggestion):
        return p
    result = backend.generate(request_for(p, config, token, request_id))
    suggestion = suggestion_from(p, snap, result, config, request_id)
    first, avoided, generate_s = result, (), result.total_s
    for attempt in range(config.retries):
        if not worth_another_try(suggestion, result, backend):
            break
        # the same prompt (its key/value cache is reused), a different first token: the model's
        # next choice where its first one led nowhere that parses
        avoided = (*avoided, result.token_ids[0])
        logger.debug("%s: post-processing left nothing; try %d avoids first tokens %s", request_id,
                     attempt + 2, avoided)
        result = backend.generate(request_for(p, config, token, request_id, avoided))
        suggestion = suggestion_from(p, snap, result, config, request_id)
        generate_s += result.total_s
        suggestion.tries = attempt + 2
    suggestion.timings = {"context_ms": p.context_s * 1000, "ttft_ms": first.time_to_first_token_s * 1000,
                          "generate_ms": generate_s * 1000,
                          "total_ms": (time.perf_counter() - started) * 1000}
    return suggestion


def suggestion_from(p: Plan, snap: Snapshot, result: GenerationResult, config: CompletionConfig,
           request_id: str = "") -> Suggestion:
    """From the engine's result to what is shown at the cursor."""
    raw = drop_partial_line(as_seen(result.text, p.removed, snap.line_prefix), result.stop_reason, p.mode)
    logger.debug("%s: mode=%s template=%s profile=%s raw generation %r", request_id, p.mode.kind.value,
                 p.template.name, p.profile.name, raw)
    ungated, text = ("", "") if result.stopped_early else postprocess_and_gate(
        raw, snap, p.mode, p.indent_unit, config.max_lines)
    confidence = first_line_confidence(result.text, result.token_probs, result.token_ends)
    unsure = bool(text) and confidence is not None and confidence < config.min_confidence
    if unsure:
        reason = UNSURE
    elif result.stopped_early:
        reason = result.stop_reason.value
    else:
        reason = "" if text else "nothing left after postprocessing"
    return Suggestion(
        text="" if unsure else text,
        confidence=confidence,
        reason=reason,
        prompt_tokens=result.prompt_tokens,
        reused_tokens=result.reused_tokens,
        new_tokens=result.new_tokens,
        stopped_early=result.stopped_early,
        mode=p.mode.kind.value,
        profile=p.profile.name,
        ungated=ungated,
        notice=result.notice,
    )


def postprocess_and_gate(raw: str, snap: Snapshot, mode: Mode, indent_unit: str, max_lines: int) -> tuple[str, str]:
    """(postprocessed, postprocessed and gated)."""
    text = postprocess(raw, prefix=snap.prefix, suffix=snap.suffix, mode=mode, indent_unit=indent_unit,
                       max_lines=max_lines)
    if not text or snap.lang is None:
        return text, text
    gated = syntax_gate(snap.text, snap.offset, text, snap.lang)
    if gated or mode.single_line:
        return text, gated
    return text, longest_valid_head(text, snap, snap.lang)
