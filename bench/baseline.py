"""The naive server the benchmark compares against: the text before the cursor into
`generate()`, the same model and decoding as the server, no post-processing except
keeping as many lines as the target has. Its latency is measured up to the end of those
lines (generation stops there), a lower bound for a naive server."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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

    def complete(self, prefix: str, lines: int) -> tuple[str, float]:
        """The suggestion for a cursor after `prefix`, and the milliseconds it took."""
        started = time.perf_counter()
        ids = self.backend.encode(prefix)[-self.budget:]
        result = self.backend.generate(GenerationRequest(
            prompt_ids=ids, profile=self.profile, max_new_tokens=self.settings.max_new_tokens,
            stop_when=enough_lines(lines)))
        text = cut_lines(result.text, lines)
        return text, (time.perf_counter() - started) * 1000
