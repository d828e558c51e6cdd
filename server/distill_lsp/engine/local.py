"""The in-process backend: a transformers causal LM generating with cancellation,
stop rules and timing, on the thread of the engine worker that owns it.

Out of memory while generating: retry once with fewer new tokens, then move the model
to the CPU (one notice for the user) and retry there; `EngineOutOfMemory` if even that
fails. ``DISTILL_LSP_FAULT=oom`` (or ``oom:N``) injects the error into the first two (N)
generations, so tests can walk this path on any machine.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from .loader import LoadedModel
from .types import EngineOutOfMemory, GenerationRequest, GenerationResult, ModelInfo, StopReason

logger = logging.getLogger(__name__)

FAULT_ENV = "DISTILL_LSP_FAULT"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

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


def scrub_surrogates(text: str) -> str:
    """`text` with lone surrogates (valid in JSON and Python, not in UTF-8) as U+FFFD:
    tokenizers refuse them, and one such document would poison every prompt it feeds."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def injected_ooms(env: Mapping[str, str] = os.environ) -> int:
    """How many generations `DISTILL_LSP_FAULT` says must fail with out of memory."""
    fault = env.get(FAULT_ENV, "").strip().lower()
    if fault == "oom":
        return 2
    if fault.startswith("oom:") and fault[4:].isdigit():
        return int(fault[4:])
    return 0


def shorter(max_new_tokens: int) -> int:
    """The token limit of the retry after running out of memory."""
    return max(1, max_new_tokens // 2)


class LocalBackend:
    """Owns one loaded model; `generate` blocks and must run on the engine worker."""

    def __init__(self, loaded: LoadedModel, threads: int = 0) -> None:
        import torch

        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.info: ModelInfo = loaded.info
        self._ooms_to_inject = injected_ooms()
        self._fell_back = False
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
        return list(self.tokenizer(scrub_surrogates(text)).input_ids)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(scrub_surrogates(text), add_special_tokens=False).input_ids)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate; on out of memory retry with fewer tokens, then on the CPU."""
        import torch

        try:
            return self._generate(request, request.max_new_tokens)
        except torch.OutOfMemoryError as exc:
            logger.warning("out of memory generating %d tokens on %s (%s); retrying with %d",
                           request.max_new_tokens, self.info.device, exc, shorter(request.max_new_tokens))
        self._free_cache()
        try:
            return self._generate(request, shorter(request.max_new_tokens))
        except torch.OutOfMemoryError as exc:
            logger.warning("out of memory again on %s (%s); falling back to the CPU", self.info.device, exc)
        notice = self._fall_back_to_cpu()
        try:
            result = self._generate(request, shorter(request.max_new_tokens))
        except torch.OutOfMemoryError as exc:
            raise EngineOutOfMemory(f"out of memory even on the CPU: {exc}") from exc
        return dataclasses.replace(result, notice=notice)

    def _free_cache(self) -> None:
        import torch

        if self.info.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _fall_back_to_cpu(self) -> str:
        """Move the model to the CPU; the message to show the user ("" after the first time)."""
        first, self._fell_back = not self._fell_back, True
        was = self.info.device
        advice = "Lower maxNewTokens or contextTokens, or free memory and restart the server."
        if was.startswith("cpu"):
            logger.error("out of memory on the CPU; generating fewer tokens")
            return f"distill-lsp: out of memory on the CPU; suggestions are shorter. {advice}" if first else ""
        self._free_cache()
        self.model.to("cpu")
        self.info = dataclasses.replace(self.info, device="cpu")
        logger.error("out of memory on %s: generating on the CPU from now on", was)
        return f"distill-lsp: out of GPU memory on {was}; the model now generates on the CPU (slower). {advice}"

    def _inject_fault(self) -> None:
        import torch

        if self._ooms_to_inject > 0:
            self._ooms_to_inject -= 1
            raise torch.OutOfMemoryError(f"injected by {FAULT_ENV}")

    def _generate(self, request: GenerationRequest, max_new_tokens: int) -> GenerationResult:
        import torch
        from transformers import StoppingCriteriaList

        self._inject_fault()
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
                max_new_tokens=max_new_tokens,
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
