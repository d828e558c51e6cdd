"""Choosing the next token from logits with a sampling profile, the way transformers'
``generate`` does (repetition penalty, then temperature, top-k, top-p), so a profile
means the same thing in our decode loop as in a plain ``generate`` call."""

from __future__ import annotations

from typing import Any

import torch
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from ..profiles import SamplingProfile


class Sampler:
    """Picks tokens for one generation; `seen` is every token so far (prompt included)."""

    def __init__(self, profile: SamplingProfile, prompt_ids: list[int], device: Any) -> None:
        self.do_sample = profile.do_sample
        self.processors = LogitsProcessorList()
        if profile.repetition_penalty and profile.repetition_penalty != 1.0:
            self.processors.append(RepetitionPenaltyLogitsProcessor(profile.repetition_penalty))
        if self.do_sample:
            if profile.temperature and profile.temperature != 1.0:
                self.processors.append(TemperatureLogitsWarper(profile.temperature))
            if profile.top_k:
                self.processors.append(TopKLogitsWarper(profile.top_k))
            if profile.top_p is not None and profile.top_p < 1.0:
                self.processors.append(TopPLogitsWarper(profile.top_p))
        self._seen = torch.tensor([prompt_ids], dtype=torch.long, device=device)

    def pick(self, logits: torch.Tensor) -> int:
        """The next token for `logits` ([vocab]); it joins the seen tokens."""
        scores = logits.float().reshape(1, -1)
        if self.processors:
            scores = self.processors(self._seen, scores)
        if self.do_sample:
            token = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1)[0, 0]
        else:
            token = torch.argmax(scores, dim=-1)[0]
        self._seen = torch.cat([self._seen, token.reshape(1, 1)], dim=1)
        return int(token)
