"""The on-worker job of one Explain / Fix / Document action.

`run` is to actions what `completion.pipeline.run` is to completion: it executes on the
engine worker, builds the chat messages, renders them with the model's chat template,
generates with a cap on reasoning, and turns the answer into markdown (Explain) or a
checked replacement (Fix / Document). Everything else here is a plain function.

Reasoning cap: R1-style models think inside ``<think>...</think>`` before answering.
Generation runs in at most two phases. Phase one stops when the reasoning reaches
``reasoning_tokens`` while ``<think>`` is still open; phase two then continues from
the prompt plus that reasoning plus a forced ``</think>``, so the model always gets
``max_new_tokens`` for its answer. A model that closes ``</think>`` itself (or never
thinks) finishes in phase one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..completion.rules import detect_indent_unit
from ..context.languages import LanguageSpec
from ..engine.types import Backend, CancelToken, GenerationRequest, GenerationResult, StopReason
from ..profiles import SamplingProfile
from .answer import (THINK_CLOSE, THINK_OPEN, canonical_language, prompt_opens_think, split_reasoning,
                     strip_special_tokens)
from .edits import ReplacementResult, make_replacement
from .explain import format_explanation
from .prompts import ActionKind, build_messages, render_prompt

logger = logging.getLogger(__name__)

FORCED_CLOSE = f"\n{THINK_CLOSE}\n\n"
SURROUNDING_LINES = 8
Progress = Callable[[int, str], None]
"""Called on the worker with (tokens generated so far, phase: "reasoning" | "answer")."""


class ActionError(Exception):
    """An action that cannot run; the message is meant for the user."""


@dataclass(frozen=True)
class ActionInput:
    """A snapshot of the document and what to act on (``str`` offsets)."""

    kind: ActionKind
    text: str
    start: int
    end: int
    language: LanguageSpec | None
    path: str | None = None
    diagnostics: tuple[str, ...] = ()
    title: str = "Explanation"
    context_lines: int = 0
    """Lines of the code around the target shown to the model (for a bare selection)."""
    hints: tuple[str, ...] = ()
    """What the parser says about the code (``line 3: missing `)` after ...``), for the prompt."""
    focus_row: int | None = None
    """Fix one line: the 0-based row of `code` the model rewrites alone (None: the whole code)."""
    lead: str = ""
    """The start of the answer's code, written for the model after the opening fence (the
    lines before the first error; a definition's header and the docstring's quotes)."""

    @property
    def code(self) -> str:
        return self.text[self.start:self.end]


@dataclass(frozen=True)
class ActionConfig:
    profile: SamplingProfile
    max_new_tokens: int
    """Tokens for the answer (after any reasoning)."""
    reasoning_tokens: int
    """Most tokens spent inside ``<think>`` before ``</think>`` is forced."""
    include_reasoning: str = "collapsed"
    seed: int | None = None
    tries: int = 1
    """Fix / Document: most candidates generated (the first greedy, the rest sampled); 1: one-shot."""
    budget_s: float = 0.0
    """Fix / Document: no try starts after this many seconds, and a running one stops (0: none)."""
    parser_repair: bool = False
    """Fix: a one-token insertion the parser finds (and finds alone) is offered before any model try."""
    deadline: float | None = None
    """`time.perf_counter()` after which a generation stops (set per try by the search)."""


@dataclass
class ActionOutput:
    """What one action's generation produced: ``markdown`` for Explain, ``replacement`` otherwise."""

    kind: ActionKind
    raw: str
    reasoning: str = ""
    answer: str = ""
    markdown: str | None = None
    replacement: ReplacementResult | None = None
    cancelled: bool = False
    reasoning_capped: bool = False
    prompt_tokens: int = 0
    new_tokens: int = 0
    stop_reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    tries: int = 1
    """Model generations the accepted candidate took (0: the parser's repair, no model)."""
    attempts: list[str] = field(default_factory=list)
    """One line per candidate tried: how it was made and what became of it."""
    repaired_by: str = "model"
    """``model`` or ``parser`` (a one-token insertion)."""


class _Monitor:
    """The stop rule of one generation phase: progress, the reasoning cap, the answer cap,
    and the end of the code block an edit needs."""

    def __init__(self, progress: Progress | None, *, thinking: bool, reasoning_cap: int | None,
                 answer_cap: int, lead: str = "", stop_at_fence: bool = False, done: int = 0,
                 deadline: float | None = None) -> None:
        self.progress = progress
        self.thinking = thinking
        self.reasoning_cap = reasoning_cap
        self.answer_cap = answer_cap
        self.lead = lead
        self.stop_at_fence = stop_at_fence
        self.done = done
        self.deadline = deadline
        self.steps = self.answer_steps = 0
        self.capped = False

    def __call__(self, text: str) -> bool:
        self.steps += 1
        if self.deadline is not None and time.perf_counter() > self.deadline:
            return True
        in_think = still_thinking(text, self.thinking)
        self.answer_steps += not in_think
        if self.progress is not None:
            self.progress(self.done + self.steps, "reasoning" if in_think else "answer")
        if in_think:
            self.capped = self.reasoning_cap is not None and self.steps >= self.reasoning_cap
            return self.capped
        answer = self.lead + text.rsplit(THINK_CLOSE, 1)[-1]
        return self.answer_steps >= self.answer_cap or (self.stop_at_fence and closes_block(answer))


def still_thinking(text: str, prompt_opened_think: bool) -> bool:
    """True while generated ``text`` is inside an unclosed ``<think>`` block."""
    if THINK_CLOSE in text:
        return False
    return prompt_opened_think or text.lstrip().startswith(THINK_OPEN)


def closes_block(answer: str) -> bool:
    """True once ``answer`` holds a complete fenced code block (opening and closing fence)."""
    fences = [line for line in answer.split("\n") if line.lstrip().startswith(("```", "~~~"))]
    return len(fences) >= 2 and answer.endswith("\n") or len(fences) >= 3


def answer_prefix(kind: ActionKind, language: LanguageSpec | None) -> str:
    """What the answer of an edit starts with: the opening fence, written for the model."""
    if kind is ActionKind.EXPLAIN:
        return ""
    return f"```{canonical_language(language.name) if language else ''}\n"


def surrounding(text: str, start: int, end: int, lines: int = SURROUNDING_LINES) -> str:
    """Up to ``lines`` lines before and after ``[start, end)``, with a marker where the code is."""
    if lines <= 0:
        return ""
    before = text[:start].split("\n")[-lines - 1:-1] if "\n" in text[:start] else []
    after = text[end:].split("\n")[1:lines + 1]
    if not any(line.strip() for line in before + after):
        return ""
    return "\n".join([*before, "...", *after]).strip("\n")


def action_messages(job: ActionInput) -> list[dict[str, str]]:
    """The chat messages of one action."""
    context = surrounding(job.text, job.start, job.end, job.context_lines)
    return build_messages(job.kind, code=job.code, language=job.language.name if job.language else None,
                          path=job.path, diagnostics=job.diagnostics, surrounding=context, hints=job.hints,
                          focus=focus_of(job))


def focus_of(job: ActionInput) -> tuple[int, str] | None:
    """(1-based number, text) of the line a one-line Fix rewrites."""
    lines = job.code.split("\n")
    if job.focus_row is None or not 0 <= job.focus_row < len(lines):
        return None
    return job.focus_row + 1, lines[job.focus_row]


def build_prompt(job: ActionInput, tokenizer: Any) -> str:
    """The rendered prompt for one action (chat template, or a plain instruction prompt)."""
    return render_prompt(tokenizer, action_messages(job))


def encode_prompt(backend: Backend, prompt: str) -> list[int]:
    """Token ids of a prompt; a chat template carries its own BOS, so none is added."""
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return list(tokenizer(prompt, add_special_tokens=False).input_ids)
    return backend.encode(prompt)


@dataclass
class Generated:
    text: str
    """Everything after the prompt: reasoning, the forced ``</think>``, the answer prefix, the answer."""
    prompt_tokens: int = 0
    new_tokens: int = 0
    stop_reason: StopReason = StopReason.LENGTH
    reasoning_capped: bool = False


def generate_capped(backend: Backend, prompt: str, token: CancelToken, config: ActionConfig, prefix: str = "",
                    progress: Progress | None = None, request_id: str = "") -> Generated:
    """Generate an answer after at most ``config.reasoning_tokens`` of reasoning."""
    fence = bool(prefix)
    if not prompt_opens_think(prompt):
        result = _phase(backend, prompt + prefix, token, config, config.max_new_tokens, request_id, _Monitor(
            progress, thinking=False, reasoning_cap=config.reasoning_tokens, answer_cap=config.max_new_tokens,
            lead=prefix, stop_at_fence=fence, deadline=config.deadline))
        return Generated(prefix + result.text, result.prompt_tokens, result.new_tokens, result.stop_reason)
    done = Generated("")
    if config.reasoning_tokens > 0:
        monitor = _Monitor(progress, thinking=True, reasoning_cap=config.reasoning_tokens,
                           answer_cap=config.max_new_tokens, stop_at_fence=fence, deadline=config.deadline)
        first = _phase(backend, prompt, token, config, config.max_new_tokens + config.reasoning_tokens,
                       request_id, monitor)
        done = Generated(first.text, first.prompt_tokens, first.new_tokens, first.stop_reason)
        if not monitor.capped or token.cancelled:
            return done
    logger.debug("%s: reasoning capped at %d tokens; forcing %s", request_id, config.reasoning_tokens, THINK_CLOSE)
    forced = done.text.rstrip() + FORCED_CLOSE + prefix
    second = _phase(backend, prompt + forced, token, config, config.max_new_tokens, request_id, _Monitor(
        progress, thinking=False, reasoning_cap=None, answer_cap=config.max_new_tokens, lead=prefix,
        stop_at_fence=fence, done=done.new_tokens, deadline=config.deadline))
    return Generated(forced + second.text, done.prompt_tokens or second.prompt_tokens,
                     done.new_tokens + second.new_tokens, second.stop_reason, reasoning_capped=True)


def generate_chat(backend: Backend, job: ActionInput, token: CancelToken, config: ActionConfig,
                  progress: Progress | None = None, request_id: str = "") -> Generated:
    """One streamed chat request, for a backend whose server applies the chat template.

    The server decides how the answer starts, so there is no forced ``</think>``: reasoning
    and answer share ``reasoning_tokens + max_new_tokens``. Text that closes a ``</think>``
    it never opened (the template opened it) gets the opening tag back.
    """
    messages = action_messages(job)
    prompt = render_prompt(getattr(backend, "tokenizer", None), messages)
    fence = job.kind is not ActionKind.EXPLAIN
    monitor = _Monitor(progress, thinking=False, reasoning_cap=None, answer_cap=config.max_new_tokens,
                       stop_at_fence=fence, deadline=config.deadline)
    result = _phase(backend, prompt, token, config, config.max_new_tokens + config.reasoning_tokens, request_id,
                    monitor, messages=tuple(messages))
    text = result.text
    if THINK_CLOSE in text and THINK_OPEN not in text[:text.index(THINK_CLOSE)]:
        text = THINK_OPEN + text
    return Generated(text, result.prompt_tokens, result.new_tokens, result.stop_reason)


def _phase(backend: Backend, prompt: str, token: CancelToken, config: ActionConfig, max_new_tokens: int,
           request_id: str, monitor: _Monitor, messages: tuple[dict[str, str], ...] = ()) -> GenerationResult:
    ids = encode_prompt(backend, prompt)
    limit = int(getattr(backend.info, "context_length", 0) or 0)
    if limit and len(ids) + max_new_tokens > limit:
        raise ActionError(f"the code is too long for the model: {len(ids)} prompt tokens + {max_new_tokens} "
                          f"to generate exceed its context of {limit}")
    return backend.generate(GenerationRequest(
        prompt_ids=ids, profile=config.profile, max_new_tokens=max_new_tokens, stop_when=monitor,
        seed=config.seed, cancel=token, request_id=request_id, cache_key="action", prompt_text=prompt,
        messages=messages))


def output_from(job: ActionInput, raw: str, opened: bool, config: ActionConfig, special: tuple[str, ...]) -> ActionOutput:
    """Markdown or a checked replacement from the raw generation."""
    reasoning, answer = split_reasoning(raw, prompt_opened_think=opened)
    answer = strip_special_tokens(answer, special)
    result = ActionOutput(job.kind, raw, reasoning, answer)
    if job.kind is ActionKind.EXPLAIN:
        result.markdown = format_explanation(reasoning, answer, include_reasoning=config.include_reasoning,
                                             title=job.title)
        return result
    if job.language is None:
        raise ActionError("no grammar for this language, so an edit could not be checked")
    result.replacement = make_replacement(
        job.text, job.start, job.end, raw, job.language.name, job.language.language,
        detect_indent_unit(job.text), kind=job.kind, special_tokens=special, prompt_opened_think=opened)
    return result


def run(job: ActionInput, backend: Backend, token: CancelToken, config: ActionConfig,
        progress: Progress | None = None, request_id: str = "") -> ActionOutput:
    """The whole action on the engine worker; a cancelled one returns with ``cancelled`` set."""
    started = time.perf_counter()
    if getattr(backend, "chat_api", False):
        out, opened = generate_chat(backend, job, token, config, progress, request_id), False
    else:
        prompt = build_prompt(job, getattr(backend, "tokenizer", None))
        opened = prompt_opens_think(prompt)
        out = generate_capped(backend, prompt, token, config, answer_prefix(job.kind, job.language) + job.lead,
                              progress, request_id)
    logger.debug("%s: %s raw answer %r", request_id, job.kind, out.text)
    if token.cancelled:
        result = ActionOutput(job.kind, out.text, cancelled=True)
    else:
        special = tuple(getattr(backend.info, "special_tokens", ()) or ())
        result = output_from(job, out.text, opened, config, special)
    result.reasoning_capped, result.prompt_tokens, result.new_tokens = (
        out.reasoning_capped, out.prompt_tokens, out.new_tokens)
    result.stop_reason = (token.reason or out.stop_reason).value if token.cancelled else out.stop_reason.value
    result.timings = {"total_ms": (time.perf_counter() - started) * 1000}
    return result
