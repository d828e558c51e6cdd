"""The naive server the benchmark compares against: the text before the cursor into
`generate()`, the same model, decoding and token limit as the server.

Two answers come from one generation:
- `raw`: what the generation wrote, up to the end-of-text token or the token limit, with no
  post-processing at all (the issue's baseline); its latency is the whole generation.
- `cut`: the same text cut to as many lines as the target has. A naive server cannot know
  that count (ours is not told it), so this is a stricter baseline than any real one; its
  latency is taken when those lines were complete, a lower bound."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distill_lsp.engine.factory import make_backend_factory
from distill_lsp.engine.types import GenerationRequest
from distill_lsp.settings import Settings

logger = logging.getLogger(__name__)

PROMPT_WINDOW = 2048
"""Most tokens of the model's context the prompt and the generation share (as the server's default)."""


def cut_lines(text: str, lines: int) -> str:
    """The first `lines` lines of `text`."""
    return "\n".join(text.split("\n")[:lines])


def enough_lines(lines: int) -> Callable[[str], bool]:
    """Stop once `lines` lines are complete: greedy decoding would not change them, so this
    only saves the time a naive server spends on text the cut throws away."""
    return lambda text: text.count("\n") >= lines


def prompt_budget(context_length: int, max_new_tokens: int) -> int:
    return max(64, min(context_length, PROMPT_WINDOW) - max_new_tokens)


@dataclass(frozen=True)
class BaselineAnswer:
    raw: str
    raw_ms: float
    cut: str
    cut_ms: float


class NaiveBaseline:
    """Loads the model the server would load for `settings`, in this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.backend: Any = make_backend_factory(settings)()
        self.profile = settings.sampling_profile()
        self.budget = prompt_budget(self.backend.info.context_length, settings.max_new_tokens)

    @property
    def model_name(self) -> str:
        return str(self.backend.info.name)

    def complete(self, prefix: str, lines: int) -> BaselineAnswer:
        """The answers for a cursor after `prefix` whose target has `lines` lines."""
        started = time.perf_counter()
        complete = enough_lines(lines)
        cut_at: list[float] = []

        def note_cut(text: str) -> bool:  # never stops the generation, only times the cut
            if not cut_at and complete(text):
                cut_at.append(time.perf_counter())
            return False

        ids = self.backend.encode(prefix)[-self.budget:]
        result = self.backend.generate(GenerationRequest(
            prompt_ids=ids, profile=self.profile, max_new_tokens=self.settings.max_new_tokens,
            stop_when=note_cut))
        ended = time.perf_counter()
        return BaselineAnswer(raw=result.text, raw_ms=(ended - started) * 1000,
                              cut=cut_lines(result.text, lines), cut_ms=((cut_at or [ended])[0] - started) * 1000)
