"""The completion pipeline: should_complete -> build_prompt -> generate -> postprocess.

`run` executes on the engine worker (it tokenizes and generates through the backend it is
given); every stage before and after generation is a plain function of strings and a
parse tree, from `context/` and the sibling modules of this package.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tree_sitter import Tree

from ..context.builder import ContextMemory, ContextShares, build_context
from ..context.languages import LanguageSpec
from ..engine.types import CancelToken, GenerationRequest, GenerationResult, StopReason
from ..profiles import SamplingProfile, auto_profile, is_auto
from .postprocess import bracket_depth, close_brackets, line_cap_reached, postprocess, syntax_gate
from .rules import (CursorPlace, Mode, cursor_place, decide_mode, detect_indent_unit, indent_width, leading_ws,
                    should_complete)
from .templates import PromptTemplate, select_template

logger = logging.getLogger(__name__)

MAX_PROMPT_TOKENS = 2048
CPU_PROMPT_TOKENS = 512
"""The prompt budget on a CPU when `contextTokens` is 0: chosen with bench/quality.py on the
tuning half of the real-code cases (quality against latency; the curve is in the README)."""
UNSURE = "first line below minConfidence"
MAX_LINES = 12
REASONING_TOKENS = ("<think>", "</think>")


class Backend(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def count_tokens(self, text: str) -> int: ...
    def generate(self, request: GenerationRequest) -> GenerationResult: ...
    @property
    def info(self) -> Any: ...


@dataclass(frozen=True)
class Snapshot:
    """The document as it was when the request arrived."""

    uri: str
    version: int | None
    text: str
    offset: int
    """Cursor as an index into `text` (converted from UTF-16 at the protocol boundary)."""
    lang: LanguageSpec | None = None
    tree: Tree | None = None
    """Parse of `text` (never mutated afterwards), None for plain-text documents."""
    other_docs: Sequence[tuple[str, str]] = ()
    """(path, text) of the other open documents."""
    memory: ContextMemory | None = None
    """What the last context built for this document chose (kept steady)."""
    automatic: bool = True
    path: str = ""
    """The document's file path (named in the prompt's header); empty: not named."""

    @property
    def prefix(self) -> str:
        return self.text[: self.offset]

    @property
    def suffix(self) -> str:
        return self.text[self.offset:]

    @property
    def line_prefix(self) -> str:
        return self.prefix.rsplit("\n", 1)[-1].rsplit("\r", 1)[-1]

    @property
    def line_suffix(self) -> str:
        return self.suffix.split("\n", 1)[0].split("\r", 1)[0]


@dataclass(frozen=True)
class CompletionConfig:
    profile: SamplingProfile
    max_new_tokens: int
    max_lines: int = MAX_LINES
    context_tokens: int = 0
    shares: ContextShares = ContextShares()
    seed: int | None = None
    retries: int = 0
    """Further tries when post-processing leaves nothing (see `run`)."""
    min_token_probability: float = 0.0
    """Generation stops before a token the model gives less than this probability."""
    min_confidence: float = 0.0
    """Nothing is shown when the first line's confidence (`first_line_confidence`) is lower."""


@dataclass
class Suggestion:
    """What to show at the cursor; `text` is empty when there is nothing worth showing."""

    text: str
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    reused_tokens: int = 0
    memory: ContextMemory | None = None
    new_tokens: int = 0
    stopped_early: bool = False
    mode: str = ""
    profile: str = ""
    """The profile the generation used (`auto:precise` etc. when `auto` chose it)."""
    ungated: str = ""
    """The postprocessed suggestion before the syntax gate cut it (for the sweep's syntax-error rate)."""
    tries: int = 1
    """Generations this answer took (more than one when post-processing threw answers away)."""
    confidence: float | None = None
    """The model's confidence in the first line (`first_line_confidence`); None when unknown."""

    notice: str = ""
    """A one-time message from the engine for the user (e.g. it fell back to the CPU)."""


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


def split_trailing_whitespace(prompt: str) -> tuple[str, str]:
    """Cut the one space the cursor stands after, if it stands after a space.

    Tokenizers of the GPT-2 kind attach a space to the word after it (`Ġreturn`) and merge
    a newline with the next line's indentation less its last space (`ĊĠĠĠ` + `Ġreturn`):
    a prompt that ends in that last space is off the distribution the model saw. Without
    it, the model writes the space back as part of its first token and `rejoin_whitespace`
    takes it off again. The newline and the rest of the indentation stay: cutting them let
    the model go on with the line before the cursor instead of starting the cursor's line.
    """
    if prompt.endswith(" "):
        return prompt[:-1], " "
    return prompt, ""


def rejoin_whitespace(generated: str, removed: str) -> str:
    """The generation as seen from the cursor, given the whitespace cut from the prompt."""
    if not removed or generated.startswith(removed):
        return generated[len(removed):]
    if generated.startswith(("\n", "\r")):
        return generated
    return generated.lstrip(" \t")


def start_on_cursor_line(text: str, line_prefix: str) -> str:
    """On a blank cursor line, a generation that first ends that line (and maybe more blank
    lines) starts at its first non-blank line, placed at the cursor: the cursor's own
    indentation is taken off that line, any deeper indentation kept."""
    if line_prefix.strip() or not text.startswith(("\n", "\r")):
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return ""
    head = lines[first]
    head = head[len(line_prefix):] if head.startswith(line_prefix) else head.lstrip(" \t")
    return "\n".join([head, *lines[first + 1:]])


def as_seen(generated: str, removed: str, line_prefix: str) -> str:
    """The generation as it would be inserted at the cursor."""
    return start_on_cursor_line(rejoin_whitespace(generated, removed), line_prefix)


def stop_rule(mode: Mode, removed: str, max_lines: int = MAX_LINES, line_prefix: str = "x") -> Callable[[str], bool]:
    """When to stop generating: the end of the line, or the end of the block (after
    `max_lines`, once the brackets the block opened are closed). `line_prefix` is the text
    before the cursor on its line (the default stands for one with code)."""

    def stop(generated: str) -> bool:
        if len(generated) <= len(removed):
            return False
        text = as_seen(generated, removed, line_prefix)
        if mode.single_line:
            return "\n" in text.lstrip("\n")
        complete = text.split("\n")[:-1]
        if line_cap_reached(complete, max_lines):
            return True
        return any(line.strip() and indent_width(line[: len(line) - len(line.lstrip())]) < mode.exit_width
                   for line in complete[1:])

    return stop


def first_line_confidence(text: str, probs: Sequence[float], ends: Sequence[int]) -> float | None:
    """The geometric mean of the probabilities of the tokens that wrote the first line with
    code in `text` (the blank lines before it and its newline included): how sure the
    model was of what it would show first. None without probabilities."""
    if not probs or len(probs) != len(ends):
        return None
    body = len(text) - len(text.lstrip())
    newline = text.find("\n", body)
    end = len(text) if newline < 0 else newline
    logs = [math.log(max(p, 1e-12)) for p, start in zip(probs, (0, *ends)) if start <= end]
    return math.exp(sum(logs) / len(logs)) if logs else None


def drop_partial_line(text: str, reason: StopReason, mode: Mode) -> str:
    """A block cut by the token limit (or an unsure token) ends in a half line: drop it."""
    if reason in (StopReason.LENGTH, StopReason.UNSURE) and not mode.single_line and "\n" in text:
        return text[: text.rfind("\n")]
    return text


@dataclass(frozen=True)
class Plan:
    """What the pipeline decided before generating: the shape wanted and the prompt."""

    mode: Mode
    indent_unit: str
    profile: SamplingProfile
    template: PromptTemplate
    prompt: str
    removed: str
    """Whitespace cut from the end of the prompt (see `split_trailing_whitespace`)."""
    ids: list[int]
    line_prefix: str = "x"
    """The cursor line's text before the cursor (see `start_on_cursor_line`)."""
    context_s: float = 0.0
    cache_key: str = ""
    """The engine's key/value cache to reuse (the document's URI)."""
    memory: ContextMemory | None = None
    """What the context chose, kept for the next request on the document."""


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
    ctx = build_context(snap.text, snap.offset, snap.lang, snap.tree, snap.other_docs,
                        backend.count_tokens, budget, config.shares, path=snap.path or None,
                        memory=snap.memory)
    prompt, removed = split_trailing_whitespace(template.render(ctx)) if not template.is_fim else (
        template.render(ctx), "")
    ids = backend.encode(prompt)
    return Plan(mode, indent_unit, profile, template, prompt, removed, ids, snap.line_prefix,
                time.perf_counter() - started, cache_key=snap.uri, memory=ctx.memory)


def request_for(p: Plan, config: CompletionConfig, token: CancelToken | None = None,
                request_id: str = "", avoid_first: tuple[int, ...] = ()) -> GenerationRequest:
    """The engine request that carries out plan `p` (`avoid_first`: see `run`)."""
    return GenerationRequest(
        prompt_ids=p.ids, profile=p.profile, max_new_tokens=config.max_new_tokens,
        stop_when=stop_rule(p.mode, p.removed, config.max_lines, p.line_prefix), seed=config.seed,
        cancel=token or CancelToken(), request_id=request_id, cache_key=p.cache_key, prompt_text=p.prompt,
        avoid_first=avoid_first, min_token_probability=config.min_token_probability,
    )


def worth_another_try(suggestion: Suggestion, result: GenerationResult, backend: Any) -> bool:
    """Post-processing threw away an answer the model did write (not one cut short by a
    cancel, nor a model that chose to write nothing), on a backend that can start the
    next try differently."""
    return (not suggestion.text and not result.stopped_early and suggestion.reason != UNSURE
            and bool(result.token_ids)
            and bool(result.text.strip()) and getattr(backend, "avoids_first_tokens", False))


def finish(p: Plan, snap: Snapshot, result: GenerationResult, config: CompletionConfig,
           request_id: str = "") -> Suggestion:
    """From the engine's result to what is shown at the cursor."""
    raw = drop_partial_line(as_seen(result.text, p.removed, snap.line_prefix), result.stop_reason, p.mode)
    logger.debug("%s: mode=%s template=%s profile=%s raw generation %r", request_id, p.mode.kind.value,
                 p.template.name, p.profile.name, raw)
    ungated, text = ("", "") if result.stopped_early else _finish(raw, snap, p.mode, p.indent_unit,
                                                                    config.max_lines)
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
        memory=p.memory,
        new_tokens=result.new_tokens,
        stopped_early=result.stopped_early,
        mode=p.mode.kind.value,
        profile=p.profile.name,
        ungated=ungated,
        notice=result.notice,
    )


def run(snap: Snapshot, backend: Backend, token: CancelToken, config: CompletionConfig,
        request_id: str = "") -> Suggestion:
    """The whole pipeline for one request, on the engine worker."""
    started = time.perf_counter()
    p = plan(snap, backend, config)
    if isinstance(p, Suggestion):
        return p
    result = backend.generate(request_for(p, config, token, request_id))
    suggestion = finish(p, snap, result, config, request_id)
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
        suggestion = finish(p, snap, result, config, request_id)
        generate_s += result.total_s
        suggestion.tries = attempt + 2
    suggestion.timings = {"context_ms": p.context_s * 1000, "ttft_ms": first.time_to_first_token_s * 1000,
                          "generate_ms": generate_s * 1000,
                          "total_ms": (time.perf_counter() - started) * 1000}
    return suggestion


def _finish(raw: str, snap: Snapshot, mode: Mode, indent_unit: str, max_lines: int) -> tuple[str, str]:
    """(postprocessed, postprocessed and gated)."""
    text = postprocess(raw, prefix=snap.prefix, suffix=snap.suffix, mode=mode, indent_unit=indent_unit,
                       max_lines=max_lines)
    if not text or snap.lang is None:
        return text, text
    gated = syntax_gate(snap.text, snap.offset, text, snap.lang)
    if gated or mode.single_line:
        return text, gated
    return text, longest_valid_head(text, snap, snap.lang)


def longest_valid_head(text: str, snap: Snapshot, lang: LanguageSpec) -> str:
    """A block the gate rejects whole: its longest run of first lines that parses where it
    would go, "" when there is none. A run cut inside brackets it opened is shown with them
    closed (see `close_brackets`), except one that ends in an opener (that would show an
    empty call or literal the model did not write)."""
    lines = text.split("\n")
    indent = leading_ws(snap.line_prefix)
    for k in range(len(lines), 0, -1):
        part = "\n".join(lines[:k])
        if bracket_depth(part) > 0:
            if part.rstrip().endswith(("(", "[", "{")):
                continue
            part = close_brackets(part, indent)
        elif k == len(lines):
            continue  # the whole text, balanced: the gate rejected it already
        if part.strip() and syntax_gate(snap.text, snap.offset, part, lang) == part:
            return part
    return ""


