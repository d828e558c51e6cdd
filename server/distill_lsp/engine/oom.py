"""Out of memory while generating: retry once with fewer new tokens, then move the model
to the CPU (one notice for the user) and retry there; `EngineOutOfMemory` if even that
fails. ``DISTILL_LSP_FAULT=oom`` (or ``oom:N``) injects the error into the first two (N)
generations, so tests can walk this path on any machine.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping

from .types import EngineOutOfMemory, GenerationRequest, GenerationResult

logger = logging.getLogger(__name__)

FAULT_ENV = "DISTILL_LSP_FAULT"
ADVICE = "Lower maxNewTokens or contextTokens, or free memory and restart the server."


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


class MemoryFallback:
    """Runs `generate(request, max_new_tokens)` through the retries above.

    `device()` names where the model is now; `move_to_cpu()` moves it there (and makes
    `device()` say so); `free_cache()` returns the accelerator's cached memory.
    """

    def __init__(self, generate: Callable[[GenerationRequest, int], GenerationResult], *,
                 device: Callable[[], str], move_to_cpu: Callable[[], None],
                 free_cache: Callable[[], None], injected: int | None = None) -> None:
        self._generate, self._device = generate, device
        self._move_to_cpu, self._free_cache = move_to_cpu, free_cache
        self._to_inject = injected_ooms() if injected is None else injected
        self._fell_back = False

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Generate; on out of memory retry with fewer tokens, then on the CPU."""
        import torch

        try:
            return self._attempt(request, request.max_new_tokens)
        except torch.OutOfMemoryError as exc:
            logger.warning("out of memory generating %d tokens on %s (%s); retrying with %d",
                           request.max_new_tokens, self._device(), exc, shorter(request.max_new_tokens))
        self._free_cache()
        try:
            return self._attempt(request, shorter(request.max_new_tokens))
        except torch.OutOfMemoryError as exc:
            logger.warning("out of memory again on %s (%s); falling back to the CPU", self._device(), exc)
        notice = self._fall_back_to_cpu()
        try:
            result = self._attempt(request, shorter(request.max_new_tokens))
        except torch.OutOfMemoryError as exc:
            raise EngineOutOfMemory(f"out of memory even on the CPU: {exc}") from exc
        return dataclasses.replace(result, notice=notice)

    def _attempt(self, request: GenerationRequest, max_new_tokens: int) -> GenerationResult:
        import torch

        if self._to_inject > 0:
            self._to_inject -= 1
            raise torch.OutOfMemoryError(f"injected by {FAULT_ENV}")
        return self._generate(request, max_new_tokens)

    def _fall_back_to_cpu(self) -> str:
        """Move the model to the CPU; the message to show the user ("" after the first time)."""
        first, self._fell_back = not self._fell_back, True
        was = self._device()
        if was.startswith("cpu"):
            logger.error("out of memory on the CPU; generating fewer tokens")
            return f"distill-lsp: out of memory on the CPU; suggestions are shorter. {ADVICE}" if first else ""
        self._free_cache()
        self._move_to_cpu()
        logger.error("out of memory on %s: generating on the CPU from now on", was)
        return f"distill-lsp: out of GPU memory on {was}; the model now generates on the CPU (slower). {ADVICE}"
