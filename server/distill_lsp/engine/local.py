"""The in-process backend: a transformers causal LM generating with cancellation,
stop rules and timing, on the thread of the engine worker that owns it. Running out of
memory is survived as `oom.MemoryFallback` says.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from pathlib import Path
from typing import Any

from ..profiles import SamplingProfile
from . import fastpath
from .fastpath import FastDecoder
from .healing import TokenHealer
from .kvcache import PrefixStore
from .loader import LoadedModel
from .oom import MemoryFallback
from .memory import release_freed_memory
from .kernels import agreement_ids, choose_kernels, cpu_class
from .quant import quantize_model
from .sampling import Sampler
from .step_build import StepBuild
from .types import GenerationRequest, GenerationResult, ModelInfo, StopReason

logger = logging.getLogger(__name__)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

TRIM_EVERY = 32
"""Generations between returning freed heap memory to the system."""
PREFILL_CHUNK = 2048
"""Prompt tokens run in one forward pass; cancellation is checked between chunks. A prompt
within the default budgets runs whole: attention over a cache in chunks of 256 took 1.3-1.9x
the time of one pass held to AVX2 (bench/latency.py --isa avx2, and a side-by-side check)."""

_END_TOKENS = ("<|endoftext|>", "<|im_end|>", "<|end_of_text|>", "<|eot_id|>", "<｜end▁of▁sentence｜>",
               "<|file_separator|>", "<|file_sep|>")


def scrub_surrogates(text: str) -> str:
    """`text` with lone surrogates (valid in JSON and Python, not in UTF-8) as U+FFFD:
    tokenizers refuse them, and one such document would poison every prompt it feeds."""
    return _LONE_SURROGATE.sub("\ufffd", text)


class LocalBackend:
    """Owns one loaded model; `generate` blocks and must run on the engine worker."""

    avoids_first_tokens = True
    """`GenerationRequest.avoid_first` is honoured."""
    heals_tokens = True
    """`GenerationRequest.start_with` is honoured."""

    def __init__(self, loaded: LoadedModel, threads: int = 0, *, quantize: str = "none",
                 prefix_cache_mb: int = 256, kernels: str = "auto", cache_dir: Path | None = None,
                 compile_from: dict[str, Any] | None = None) -> None:
        """`compile_from`: the settings the model was loaded with (`step_build.LOAD_SETTINGS`),
        to build the compiled decoding step from; None decodes eagerly."""
        import torch

        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self._memory = MemoryFallback(lambda request, n: self._decode(request, n), device=lambda: self.info.device,
                                      move_to_cpu=self._move_to_cpu, free_cache=self._free_cache)
        if threads > 0:
            torch.set_num_threads(threads)
        started = time.perf_counter()
        self.quantization = quantize_model(self.model, quantize, loaded.info.device)
        self.kernels = None
        if loaded.info.device.startswith("cpu"):
            self.kernels = choose_kernels(self.model, agreement_ids(self.tokenizer), forced=kernels,
                                          cache_dir=cache_dir, cache_key=f"{loaded.info.path}|{self.quantization.mode}")
        self.info: ModelInfo = dataclasses.replace(
            loaded.info, quantization=self.quantization.describe(),
            kernels=self.kernels.as_dict() if self.kernels is not None else {},
            load_s=loaded.info.load_s + time.perf_counter() - started)
        self.eos_ids = self._end_token_ids()
        self.prefix = PrefixStore(prefix_cache_mb * 2**20)
        self._generations = 0
        self._healer: TokenHealer | None = None
        self.fast = FastDecoder(self.model) if fastpath.supports(self.model) else None
        self.step_build: StepBuild | None = None
        if compile_from is not None and cache_dir is not None and self.kernels is not None:
            choice = self.kernels.as_dict()
            self.step_build = StepBuild(self.fast, compile_from, f"{choice['prompt']},{choice['decode']}", cache_dir,
                                        f"{cpu_class().describe()}|threads={torch.get_num_threads()}",
                                        f"{loaded.info.path}|{self.quantization.describe()}")
        self._poll_compiled()
        self._warm_up()

    def _poll_compiled(self) -> None:
        """Let the compiled step move on (`StepBuild.poll`); its state goes into `info.kernels`."""
        if self.step_build is None:
            return
        state = self.step_build.poll()  # cheap once nothing is under way
        if state != self.info.kernels.get("compiled"):
            self.info = dataclasses.replace(self.info, kernels={**self.info.kernels, "compiled": state})

    def _warm_up(self) -> None:
        """One tiny generation at load, healing a word as a mid-word request does, so the
        first real request is not the slow one."""
        warm = GenerationRequest(prompt_ids=self.encode("def main():\n    return"),
                                 profile=SamplingProfile("greedy", do_sample=False), max_new_tokens=2, start_with=" x")
        self._decode(warm, 2)

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
        """Generate; out of memory is retried with fewer tokens, then on the CPU (`oom.py`)."""
        return self._memory.generate(request)

    @property
    def healer(self) -> TokenHealer:
        """The vocabulary index token healing uses (built on first use)."""
        if self._healer is None:
            self._healer = TokenHealer.of(self.tokenizer, int(getattr(self.model.config, "vocab_size", 0) or 0),
                                          excluded=self.eos_ids)
        return self._healer

    @staticmethod
    def _only(logits: Any, allowed: list[int]) -> tuple[Any, Any]:
        """`logits` with every token but `allowed` ruled out, for sampling and for the
        probabilities (the model's choice among the tokens that fit); as they are when
        nothing fits."""
        import torch

        if not allowed:
            return logits, logits
        masked = torch.full_like(logits, float("-inf"))
        masked[allowed] = logits[allowed]
        return masked, masked

    def _free_cache(self) -> None:
        import torch

        if self.info.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _move_to_cpu(self) -> None:
        self.model.to("cpu")
        if self.fast is not None:
            self.fast = FastDecoder(self.model)  # its joined weights are still on the old device
        self.info = dataclasses.replace(self.info, device="cpu")

    def _decode(self, request: GenerationRequest, max_new_tokens: int) -> GenerationResult:
        import torch

        started = time.perf_counter()
        self._poll_compiled()
        prompt = list(request.prompt_ids)
        if request.seed is not None:
            torch.manual_seed(request.seed)
        reuse = self.prefix.take(request.cache_key, prompt, self.model, also=request.cache_also)
        cache, fed = reuse.cache, prompt[:reuse.reused]
        sampler = Sampler(request.profile, prompt, self.model.device)
        new_ids: list[int] = []
        text = ""
        steps = _Steps()
        first_token_at: float | None = None
        reason: StopReason | None = None
        pending = prompt[reuse.reused:]
        owed = request.start_with
        try:
            with torch.inference_mode():
                while reason is None:
                    logits = self._run(pending, cache, fed, request)
                    if logits is None:
                        break  # cancelled during the prompt
                    model_logits = logits
                    if not new_ids and request.avoid_first:
                        logits = logits.clone()
                        logits[list(request.avoid_first)] = float("-inf")
                    if owed:  # the partial word the prompt was cut before, in tokens the model picks
                        logits, model_logits = self._only(logits, self.healer.allowed(owed))
                    token = sampler.pick(logits)
                    first_token_at = first_token_at or time.perf_counter()
                    probability = float(torch.softmax(model_logits.float(), dim=-1)[token])
                    if probability < request.min_token_probability and not owed:
                        reason = StopReason.UNSURE
                        break
                    owed = self.healer.after(owed, token) if owed else ""
                    new_ids.append(token)
                    text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
                    steps.add(probability, len(text))
                    reason = self._stop(request, token, new_ids, max_new_tokens, text)
                    pending = [token]
        except BaseException:
            self.prefix.drop(request.cache_key)  # the cache may be half-written
            raise
        self.prefix.put(request.cache_key, fed, cache)
        self._generations += 1
        if self._generations % TRIM_EVERY == 0:
            release_freed_memory()  # key/value buffers of changing sizes fragment the heap
        if request.cancel.cancelled:
            reason = request.cancel.reason or StopReason.CANCELLED
        ended = time.perf_counter()
        return GenerationResult(
            text=text,
            new_tokens=len(new_ids),
            prompt_tokens=len(prompt),
            stop_reason=reason or StopReason.CANCELLED,
            time_to_first_token_s=(first_token_at or ended) - started,
            total_s=ended - started,
            token_ids=tuple(new_ids),
            reused_tokens=reuse.reused,
            token_probs=tuple(steps.probs),
            token_ends=tuple(steps.ends),
        )

    def _run(self, tokens: list[int], cache: Any, fed: list[int], request: GenerationRequest) -> Any:
        """Feed `tokens` (in chunks, checking cancellation between them); the last
        position's logits, or None when cancelled first. `fed` tracks the cache's tokens."""
        import torch

        if request.cancel.cancelled:
            return None
        if len(tokens) == 1 and fed and self.fast is not None and self.fast.can_use(cache):
            logits = self.fast.step(tokens[0], cache)  # compiled once a package is ready
            fed.append(tokens[0])
            return logits
        logits = None
        step = request.prefill_chunk or PREFILL_CHUNK
        for start in range(0, len(tokens), step):
            if request.cancel.cancelled:
                return None
            chunk = tokens[start:start + step]
            ids = torch.tensor([chunk], device=self.model.device)
            out = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
            fed.extend(chunk)
            logits = out.logits[0, -1]
        return logits

    def _stop(self, request: GenerationRequest, token: int, new_ids: list[int], limit: int,
              text: str) -> StopReason | None:
        if token in self.eos_ids:
            return StopReason.EOS
        if request.cancel.cancelled:
            return request.cancel.reason or StopReason.CANCELLED
        if len(new_ids) >= limit:
            return StopReason.LENGTH
        if request.stop_when is not None and request.stop_when(text):
            return StopReason.STOP_RULE
        return None


@dataclasses.dataclass
class _Steps:
    """Per generated token: the model's probability of it, and where it ends in the text."""

    probs: list[float] = dataclasses.field(default_factory=list)
    ends: list[int] = dataclasses.field(default_factory=list)

    def add(self, probability: float, end: int) -> None:
        self.probs.append(probability)
        self.ends.append(end)

