"""The in-process backend: a transformers causal LM generating with cancellation,
stop rules and timing, on the thread of the engine worker that owns it."""

from __future__ import annotations

import logging
import time
from typing import Any

from .loader import LoadedModel
from .types import GenerationRequest, GenerationResult, ModelInfo, StopReason

logger = logging.getLogger(__name__)

_END_TOKENS = ("<|endoftext|>", "<|im_end|>", "<|end_of_text|>", "<|eot_id|>", "<｜end▁of▁sentence｜>",
               "<|file_separator|>", "<|file_sep|>")


class _Watch:
    """StoppingCriteria: cancellation, the request's stop rule, and first-token time."""

    def __init__(self, request: GenerationRequest, tokenizer: Any, prompt_len: int) -> None:
        self.request = request
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.first_token_at: float | None = None
        self.stopped_by_rule = False

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        stop = self.request.cancel.cancelled
        if not stop and self.request.stop_when is not None:
            text = self.tokenizer.decode(input_ids[0, self.prompt_len:], skip_special_tokens=True)
            stop = self.stopped_by_rule = self.request.stop_when(text)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class LocalBackend:
    """Owns one loaded model; `generate` blocks and must run on the engine worker."""

    def __init__(self, loaded: LoadedModel, threads: int = 0) -> None:
        import torch

        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.info: ModelInfo = loaded.info
        if threads > 0:
            torch.set_num_threads(threads)
        self.eos_ids = self._end_token_ids()
        self._warm_up()

    def _warm_up(self) -> None:
        """One tiny generation at load, so the first real request is not the slow one."""
        import torch

        ids = torch.tensor([self.encode("def main():\n    return")], device=self.model.device)
        with torch.inference_mode():
            self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=2,
                                do_sample=False, pad_token_id=self.eos_ids[0] if self.eos_ids else None)

    def _end_token_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[t] for t in _END_TOKENS if t in vocab)
        return sorted(ids)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text).input_ids)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        import torch
        from transformers import StoppingCriteriaList

        started = time.perf_counter()
        prompt_len = len(request.prompt_ids)
        ids = torch.tensor([request.prompt_ids], device=self.model.device)
        watch = _Watch(request, self.tokenizer, prompt_len)
        kwargs = self._sampling_kwargs(request)
        if request.seed is not None:
            torch.manual_seed(request.seed)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=request.max_new_tokens,
                stopping_criteria=StoppingCriteriaList([watch]),
                eos_token_id=self.eos_ids or None,
                pad_token_id=self.eos_ids[0] if self.eos_ids else None,
                **kwargs,
            )
        new_ids = out[0, prompt_len:].tolist()
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        ended = time.perf_counter()
        return GenerationResult(
            text=text,
            new_tokens=len(new_ids),
            prompt_tokens=prompt_len,
            stop_reason=self._stop_reason(request, watch, new_ids),
            time_to_first_token_s=(watch.first_token_at or ended) - started,
            total_s=ended - started,
        )

    def _stop_reason(self, request: GenerationRequest, watch: _Watch, new_ids: list[int]) -> StopReason:
        if request.cancel.cancelled:
            return request.cancel.reason or StopReason.CANCELLED
        if watch.stopped_by_rule:
            return StopReason.STOP_RULE
        if new_ids and new_ids[-1] in self.eos_ids:
            return StopReason.EOS
        return StopReason.LENGTH

    @staticmethod
    def _sampling_kwargs(request: GenerationRequest) -> dict[str, Any]:
        p = request.profile
        kwargs: dict[str, Any] = {"do_sample": p.do_sample, "repetition_penalty": p.repetition_penalty}
        if p.do_sample:
            kwargs.update(temperature=p.temperature, top_p=p.top_p, top_k=p.top_k or None)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs
