"""The generation stage: the engine request that carries out a plan, when to stop
generating, and whether a thrown-away answer is worth another try."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine.types import CancelToken, GenerationRequest, GenerationResult
from .gate import UNSURE
from .postprocess import line_cap_reached
from .prompt import Plan
from .rules import Mode, indent_width
from ..profiles import COMPLETION_MAX_LINES
from .types import CompletionConfig, Suggestion
from .whitespace import as_seen


def stop_rule(mode: Mode, removed: str, max_lines: int = COMPLETION_MAX_LINES, line_prefix: str = "x") -> Callable[[str], bool]:
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


SPECULATIVE = "#speculative"
"""Suffix of the key/value cache key of a document's speculative work."""
BACKGROUND_PREFILL_CHUNK = 64
"""Prompt tokens per forward pass of speculative work (a cancellation check after each)."""

def request_for(p: Plan, config: CompletionConfig, token: CancelToken | None = None,
                request_id: str = "", avoid_first: tuple[int, ...] = ()) -> GenerationRequest:
    """The engine request that carries out plan `p` (`avoid_first`: see `run`)."""
    return GenerationRequest(
        prompt_ids=p.ids, profile=p.profile, max_new_tokens=config.max_new_tokens,
        stop_when=stop_rule(p.mode, p.removed, config.max_lines, p.line_prefix), seed=config.seed,
        cancel=token or CancelToken(), request_id=request_id, prompt_text=p.prompt,
        # speculative work keeps a cache of its own: the document's stays as its requests left it
        cache_key=p.cache_key + SPECULATIVE if config.background else p.cache_key,
        cache_also=p.cache_key if config.background else p.cache_key + SPECULATIVE,
        avoid_first=avoid_first, min_token_probability=config.min_token_probability,
        prefill_chunk=BACKGROUND_PREFILL_CHUNK if config.background else 0, start_with=p.start_with,
    )


def worth_another_try(suggestion: Suggestion, result: GenerationResult, backend: Any) -> bool:
    """Post-processing threw away an answer the model did write (not one cut short by a
    cancel, nor a model that chose to write nothing), on a backend that can start the
    next try differently."""
    return (not suggestion.text and not result.stopped_early and suggestion.reason != UNSURE
            and bool(result.token_ids)
            and bool(result.text.strip()) and getattr(backend, "avoids_first_tokens", False))
