"""The completion pipeline: should_complete -> build_prompt -> generate -> postprocess.

`run` executes on the engine worker (it tokenizes and generates through the backend it is
given); every stage before and after generation is a plain function of strings.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..engine.types import CancelToken, GenerationRequest, GenerationResult
from ..profiles import SamplingProfile

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w")
MAX_PROMPT_TOKENS = 2048


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
    """Cursor as an index into `text` (str characters, converted from UTF-16 at the boundary)."""
    language_id: str | None = None
    automatic: bool = True

    @property
    def prefix(self) -> str:
        return self.text[: self.offset]

    @property
    def suffix(self) -> str:
        return self.text[self.offset:]

    @property
    def line_prefix(self) -> str:
        return self.prefix.rsplit("\n", 1)[-1]

    @property
    def line_suffix(self) -> str:
        return self.suffix.split("\n", 1)[0].rstrip("\r")


@dataclass(frozen=True)
class CompletionConfig:
    profile: SamplingProfile
    max_new_tokens: int
    context_tokens: int = 0
    seed: int | None = None


@dataclass
class Suggestion:
    """What to show at the cursor; `text` is empty when there is nothing worth showing."""

    text: str
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    new_tokens: int = 0
    stopped_early: bool = False


def should_complete(snap: Snapshot) -> tuple[bool, str]:
    """Skip where a suggestion can't help: inside a word with identifier text to the right."""
    before, after = snap.line_prefix, snap.line_suffix
    if before and after and _WORD.match(before[-1]) and _WORD.match(after[0]):
        return False, "cursor inside a word"
    return True, ""


def is_single_line(snap: Snapshot) -> bool:
    """Mid-line with code to the right: complete this line only."""
    return snap.line_suffix.strip() != ""


def prompt_budget(context_tokens: int, model_context: int, max_new_tokens: int) -> int:
    limit = context_tokens or min(model_context, MAX_PROMPT_TOKENS)
    return max(64, min(limit, model_context) - max_new_tokens)


def build_prompt(snap: Snapshot, count_tokens: Any, budget: int) -> str:
    """The text before the cursor, cut at a line boundary to fit `budget` tokens."""
    prefix = snap.prefix
    if count_tokens(prefix) <= budget:
        return prefix
    lines = prefix.split("\n")
    kept: list[str] = [lines.pop()]
    used = count_tokens(kept[0])
    while lines:
        cost = count_tokens(lines[-1] + "\n")
        if used + cost > budget:
            break
        kept.append(lines.pop())
        used += cost
    return "\n".join(reversed(kept))


def split_trailing_whitespace(prompt: str) -> tuple[str, str]:
    """Cut the whitespace the cursor stands after (and the newline before a blank line).

    Tokenizers merge a newline with the next line's indentation, so a prompt that ends
    in a bare newline or in spaces is off the distribution the model saw; the model
    writes that whitespace back itself and `rejoin_whitespace` takes it off again.
    """
    line = prompt.rsplit("\n", 1)[-1]
    kept = line.rstrip(" \t")
    cut = len(line) - len(kept)
    if not kept and "\n" in prompt:
        cut += 1
    return (prompt[: len(prompt) - cut], prompt[len(prompt) - cut:]) if cut else (prompt, "")


def rejoin_whitespace(generated: str, removed: str) -> str:
    """The generation as seen from the cursor, given the whitespace cut from the prompt."""
    if not removed or generated.startswith(removed):
        return generated[len(removed):]
    if removed.startswith("\n"):
        first, sep, rest = generated.lstrip("\n").partition("\n")
        if generated.startswith("\n") or not generated.strip():
            return first.lstrip(" \t") + sep + rest
        return ""  # the model went on with the line before the cursor
    return generated.lstrip(" \t") if removed.strip(" \t") == "" else generated


def stop_rule(single_line: bool, block_indent: int, max_lines: int = 12) -> Any:
    """When to stop generating: end of the line, or the block's end."""

    def stop(text: str) -> bool:
        if single_line:
            return "\n" in text.lstrip("\n")
        lines = text.split("\n")
        complete = lines[:-1]
        if len(complete) >= max_lines:
            return True
        return any(_dedents(line, block_indent) for line in complete[1:])

    return stop


def _indent_width(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _dedents(line: str, block_indent: int) -> bool:
    return line.strip() != "" and _indent_width(line) < block_indent


def block_indent(snap: Snapshot) -> int:
    """Indentation of the block the cursor is in (one deeper after a block opener)."""
    lines = snap.prefix.split("\n")
    current = lines[-1]
    if current.strip():
        return _indent_width(current)
    for line in reversed(lines[:-1]):
        if line.strip():
            width = _indent_width(line)
            return width + 1 if line.rstrip().endswith((":", "{", "(", "[")) else width
    return 0


def postprocess(raw: str, snap: Snapshot, single_line: bool, indent: int) -> str:
    """Cut the raw generation to what belongs at the cursor."""
    text = raw.replace("\r\n", "\n")
    if single_line or snap.line_prefix.strip():
        first, _, rest = text.partition("\n")
        if single_line:
            return _strip_suffix_overlap(first.rstrip(), snap.line_suffix)
        text = first + ("\n" + rest if rest else "")
    kept: list[str] = []
    for i, line in enumerate(text.split("\n")):
        if i > 0 and _dedents(line, indent):
            break
        kept.append(line.rstrip())
    while kept and not kept[-1].strip():
        kept.pop()
    result = "\n".join(kept)
    return result if result.strip() else ""


def _strip_suffix_overlap(text: str, line_suffix: str) -> str:
    tail = line_suffix.strip()
    if tail and text.endswith(tail):
        return text[: -len(tail)]
    return text


def _after(removed: str, rule: Any) -> Any:
    """Apply a stop rule to the text after the whitespace the model writes back."""
    return lambda text: rule(rejoin_whitespace(text, removed)) if len(text) > len(removed) else False


def run(snap: Snapshot, backend: Backend, token: CancelToken, config: CompletionConfig,
        request_id: str = "") -> Suggestion:
    """The whole pipeline for one request, on the engine worker."""
    started = time.perf_counter()
    ok, why = should_complete(snap)
    if not ok:
        return Suggestion("", reason=why)
    single = is_single_line(snap)
    indent = block_indent(snap)
    budget = prompt_budget(config.context_tokens, backend.info.context_length, config.max_new_tokens)
    prompt, removed = split_trailing_whitespace(build_prompt(snap, backend.count_tokens, budget))
    ids = backend.encode(prompt)
    context_s = time.perf_counter() - started
    result = backend.generate(GenerationRequest(
        prompt_ids=ids, profile=config.profile, max_new_tokens=config.max_new_tokens,
        stop_when=_after(removed, stop_rule(single, indent)), seed=config.seed, cancel=token, request_id=request_id,
    ))
    raw = rejoin_whitespace(result.text, removed)
    logger.debug("%s: raw generation %r", request_id, raw)
    text = "" if result.stopped_early else postprocess(raw, snap, single, indent)
    return Suggestion(
        text=text,
        reason=result.stop_reason.value if result.stopped_early else ("" if text else "nothing left after postprocessing"),
        timings={"context_ms": context_s * 1000, "ttft_ms": result.time_to_first_token_s * 1000,
                 "generate_ms": result.total_s * 1000, "total_ms": (time.perf_counter() - started) * 1000},
        prompt_tokens=result.prompt_tokens,
        new_tokens=result.new_tokens,
        stopped_early=result.stopped_early,
    )
