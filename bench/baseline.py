"""The naive server the benchmark compares against: what a user would run with plain
PyTorch. The model the server resolves, loaded as it comes (no quantization, no prefix
cache, none of our decoding), the last `PROMPT_CHARS` characters before the cursor into
transformers' `generate`, greedy, with the server's token limit.

Two answers come from one generation:
- `shown`: what a naive editor plugin would show: the first line for a cursor mid-line or
  at a line start, as many lines as the target has for a block. Greedy decoding would not
  change those lines, so its latency is taken when they were complete, as if the server
  stopped there.
- `raw`: the whole generation, up to the end-of-text token or the token limit, with no
  post-processing at all; its latency is the whole generation's. Asked not to keep it
  (`whole=False`), the generation stops once the shown answer is complete."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distill_lsp.settings import Settings

logger = logging.getLogger(__name__)

PROMPT_CHARS = 1500


def cut_lines(text: str, lines: int) -> str:
    """The first `lines` lines of `text`."""
    return "\n".join(text.split("\n")[:lines])


def enough_lines(lines: int) -> Callable[[str], bool]:
    """True once `lines` lines of the text are complete."""
    return lambda text: text.count("\n") >= lines


@dataclass(frozen=True)
class NaiveAnswer:
    shown: str
    shown_ms: float
    raw: str | None
    """None when the generation stopped at the shown answer."""
    raw_ms: float


class NaiveServer:
    """Loads, in this process, the model the server resolves for `settings`."""

    def __init__(self, settings: Settings) -> None:
        from distill_lsp.engine.loader import load_model
        from distill_lsp.engine.resolve import resolve_model

        spec = resolve_model(settings.model, settings.device)
        loaded = load_model(spec, device=settings.device, dtype=settings.dtype, device_map=settings.device_map,
                            cache_dir=settings.resolved_cache_dir())
        self.model, self.tokenizer, self.info = loaded.model, loaded.tokenizer, loaded.info
        self.max_new_tokens = settings.max_new_tokens

    @property
    def model_name(self) -> str:
        return str(self.info.name)

    def complete(self, prefix: str, lines: int, whole: bool = True) -> NaiveAnswer:
        """The answers for a cursor after `prefix` whose target has `lines` lines; without
        `whole`, only the shown one."""
        started = time.perf_counter()
        inputs = self.tokenizer(prefix[-PROMPT_CHARS:], return_tensors="pt").to(self.model.device)
        prompt_length = inputs.input_ids.shape[1]
        shown_at: list[float] = []

        def decoded(ids: Any) -> str:
            return str(self.tokenizer.decode(ids[prompt_length:], skip_special_tokens=True))

        def note_shown(input_ids: Any, scores: Any, **_: Any) -> Any:
            import torch

            if not shown_at and enough_lines(lines)(decoded(input_ids[0])):
                shown_at.append(time.perf_counter())
            stop = bool(shown_at) and not whole
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        output = self.generate(inputs, note_shown)
        ended = time.perf_counter()
        raw = decoded(output[0])
        return NaiveAnswer(shown=cut_lines(raw, lines), shown_ms=((shown_at or [ended])[0] - started) * 1000,
                           raw=raw if whole else None, raw_ms=(ended - started) * 1000)

    def generate(self, inputs: Any, on_step: Callable[..., Any]) -> Any:
        """Greedy `generate` to the end-of-text token, the token limit or `on_step`'s stop."""
        import torch
        from transformers import StoppingCriteriaList

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            return self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                       pad_token_id=pad, stopping_criteria=StoppingCriteriaList([on_step]))
