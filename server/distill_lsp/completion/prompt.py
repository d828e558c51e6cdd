"""Stages before generation: should_complete -> context -> template. `plan` decides the shape
of the suggestion wanted, the sampling profile, and the prompt within its token budget."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..context.builder import build_context
from ..engine.types import Backend
from ..profiles import SamplingProfile, auto_profile, is_auto
from .rules import CursorPlace, Mode, cursor_place, decide_mode, detect_indent_unit, should_complete
from .templates import PromptTemplate, select_template
from .types import CompletionConfig, Snapshot, Suggestion
from .whitespace import split_partial_word, split_trailing_whitespace

MAX_PROMPT_TOKENS = 2048
CPU_PROMPT_TOKENS = 512
"""The prompt budget on a CPU when `contextTokens` is 0: chosen with bench/quality.py on the
tuning half of the real-code cases (quality against latency; the curve is in the README)."""
REASONING_TOKENS = ("<think>", "</think>")


def in_docstring(place: CursorPlace, prefix: str) -> bool:
    """Inside a string opened with triple quotes (a Python docstring, by its shape)."""
    return place.in_string and (prefix.count('"""') + prefix.count("'''")) % 2 == 1


def effective_profile(profile: SamplingProfile, mode: Mode, place: CursorPlace, prefix: str) -> SamplingProfile:
    """`profile`, or what `auto` picks for this kind of request."""
    if not is_auto(profile):
        return profile
    return auto_profile(mode.kind.value, place.in_comment or in_docstring(place, prefix))


def template_for(info: Any) -> PromptTemplate:
    """Fill-in-the-middle where the tokenizer has a family's FIM tokens, except for
    reasoning models (they carry `<think>`): those were not trained to fill holes."""
    tokens = set(info.special_tokens)
    reasoning = any(t in tokens for t in REASONING_TOKENS)
    return select_template(tokens, info.model_type, fim=not reasoning)


def prompt_budget(context_tokens: int, model_context: int, max_new_tokens: int, on_cpu: bool = False) -> int:
    """Tokens the prompt may take: `contextTokens`, else `CPU_PROMPT_TOKENS` for a model on a
    CPU (a cold prompt's time grows with its length), else the model's context up to 2048."""
    limit = context_tokens or (CPU_PROMPT_TOKENS if on_cpu else min(model_context, MAX_PROMPT_TOKENS))
    return max(64, min(limit, model_context) - max_new_tokens)


@dataclass(frozen=True)
class Plan:
    """What the pipeline decided before generating: the shape wanted and the prompt."""

    mode: Mode
    indent_unit: str
    profile: SamplingProfile
    template: PromptTemplate
    prompt: str
    removed: str
    """Text cut from the end of the prompt: a space (`split_trailing_whitespace`) or the partial word (`start_with`)."""
    ids: list[int]
    line_prefix: str = "x"
    """The cursor line's text before the cursor (see `start_on_cursor_line`)."""
    context_s: float = 0.0
    cache_key: str = ""
    """The engine's key/value cache to reuse (the document's URI)."""
    start_with: str = ""
    """The partial word cut off the prompt's end (also `removed`), which the generation
    must begin with (see `split_partial_word`)."""


def plan(snap: Snapshot, backend: Backend, config: CompletionConfig) -> Plan | Suggestion:
    """The prompt for `snap`, or an empty Suggestion saying why there is nothing to ask."""
    started = time.perf_counter()
    place = cursor_place(snap.tree, snap.text, snap.offset, snap.lang)
    ok, why = should_complete(snap.line_prefix, snap.line_suffix, automatic=snap.automatic,
                              in_comment=place.in_comment, in_string=place.in_string)
    if not ok:
        return Suggestion("", reason=why)
    indent_unit = detect_indent_unit(snap.text, "\t" if snap.lang and snap.lang.name == "go" else "    ")
    mode = decide_mode(snap.text, snap.offset, snap.lang, indent_unit)
    profile = effective_profile(config.profile, mode, place, snap.prefix)
    template = template_for(backend.info)
    budget = prompt_budget(config.context_tokens, backend.info.context_length, config.max_new_tokens,
                           on_cpu=str(getattr(backend.info, "device", "")).startswith("cpu"))
    repo = snap.repo
    ctx = build_context(snap.text, snap.offset, snap.lang, snap.tree, snap.other_docs,
                        backend.count_tokens, budget, config.shares,
                        path=(repo.display_path if repo and repo.display_path else snap.path) or None,
                        memory=snap.memory, workspace=repo.pieces_for(snap.text, snap.tree, snap.lang) if repo else None,
                        recent=repo.recent if repo else (), repo_name=repo.repo_name if repo else "")
    prompt, removed = split_trailing_whitespace(template.render(ctx)) if not template.is_fim else (
        template.render(ctx), "")
    start_with = ""
    if not removed and not template.is_fim and getattr(backend, "heals_tokens", False):
        prompt, start_with = split_partial_word(prompt, snap.line_prefix)
        removed = start_with
    if snap.remember is not None:
        snap.remember(ctx.memory)
    ids = backend.encode(prompt)
    return Plan(mode, indent_unit, profile, template, prompt, removed, ids, snap.line_prefix,
                time.perf_counter() - started, cache_key=snap.uri, start_with=start_with)
