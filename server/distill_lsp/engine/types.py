"""Typed requests, results and errors exchanged with the engine."""

from __future__ import annotations

import threading
from typing import Any, Protocol
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from ..profiles import SamplingProfile


class EngineError(Exception):
    """Base of the engine's errors; the message is meant for the user."""


class ModelNotFound(EngineError):
    """The configured model is not on this machine."""


class ModelLoadError(EngineError):
    """The model was found but could not be loaded."""


class EngineNotReady(EngineError):
    """No model is loaded (yet)."""


class JobFailed(EngineError):
    """An engine job raised something that is not an Exception (SystemExit, KeyboardInterrupt,
    a BaseException of a library); it is handed to the waiting side as this error."""


class EngineOutOfMemory(EngineError):
    """Generation ran out of memory even with fewer tokens and on the CPU."""


class EndpointUnavailable(EngineError):
    """An HTTP backend's endpoint failed (refused, timed out, answered an error, dropped
    the stream) or is waiting out its retry backoff."""

    def __init__(self, message: str, notice: str = "") -> None:
        super().__init__(message)
        self.notice = notice
        """The message for the user on the first failure of an outage, "" on later ones."""


class StopReason(str, Enum):
    EOS = "eos"
    LENGTH = "length"
    STOP_RULE = "stop_rule"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"
    UNSURE = "unsure"
    """The model gave the next token less than `GenerationRequest.min_token_probability`."""


class CancelToken:
    """A flag checked between decode steps; the first reason given wins."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: StopReason | None = None

    def cancel(self, reason: StopReason = StopReason.CANCELLED) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class GenerationRequest:
    """One generation: token ids in, text out."""

    prompt_ids: list[int]
    profile: SamplingProfile
    max_new_tokens: int
    key: str = ""
    """Requests with the same non-empty key supersede each other (newest wins)."""
    stop_when: Callable[[str], bool] | None = None
    """Called with the text generated so far; True stops generation."""
    seed: int | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    request_id: str = ""
    cache_key: str = ""
    """Which kept key/value cache to reuse and replace (e.g. the document's URI): the
    backend reuses the longest common token prefix, so any key is safe, a good one is fast."""
    cache_also: str = ""
    """Another kept cache to start from when it holds more of the prompt (it is copied, not taken)."""
    prompt_text: str = ""
    """The prompt as text, the same as `prompt_ids` (HTTP backends send it as is)."""
    messages: tuple[Mapping[str, str], ...] = ()
    """Chat messages the prompt was rendered from; a backend that applies the chat
    template itself (OpenAI-compatible `/v1/chat/completions`) sends these instead."""
    min_token_probability: float = 0.0
    """Stop before a token the model gives less than this probability (its own
    distribution, before temperature and top-p): the rest would be a guess."""
    prefill_chunk: int = 0
    """Prompt tokens per forward pass between cancellation checks (0: the backend's default).
    Background work asks for small chunks, so that a real request stops it at once."""
    avoid_first: tuple[int, ...] = ()
    """Token ids the first generated token must not be: a second try after an answer that
    post-processing threw away starts differently. Backends that can do this say so with
    `avoids_first_tokens = True`; others ignore it."""
    start_with: str = ""
    """Text the generation must begin with: the end of the prompt, cut off by the caller
    and given back in tokens the model chooses (token healing, `engine.healing`); it is part
    of the generated text. Backends that can do this say so with `heals_tokens = True`; the
    caller cuts nothing for the others."""


@dataclass
class GenerationResult:
    text: str
    new_tokens: int
    prompt_tokens: int
    stop_reason: StopReason
    time_to_first_token_s: float = 0.0
    total_s: float = 0.0
    queued_s: float = 0.0
    token_ids: tuple[int, ...] = ()
    """The generated tokens (for agreement measurements)."""
    reused_tokens: int = 0
    """Prompt tokens whose keys and values came from the previous request's cache."""
    token_probs: tuple[float, ...] = ()
    """The model's probability of each generated token (before temperature and top-p);
    empty where the backend does not know them."""
    token_ends: tuple[int, ...] = ()
    """Where each generated token ends in `text` (characters), aligned with `token_probs`."""
    notice: str = ""
    """A one-time message for the user (e.g. the model fell back to the CPU)."""

    @property
    def stopped_early(self) -> bool:
        return self.stop_reason in (StopReason.CANCELLED, StopReason.SUPERSEDED)


@dataclass(frozen=True)
class ModelInfo:
    """What is loaded and why, for `doctor`, logs and completion items."""

    name: str
    source: str
    """bundled | hf-cache | directory | gguf"""
    path: str
    device: str
    dtype: str
    context_length: int
    model_type: str
    has_chat_template: bool
    special_tokens: tuple[str, ...] = ()
    load_s: float = 0.0
    from_conversion_cache: bool = False
    quantization: str = "none"
    kernels: dict[str, Any] = field(default_factory=dict)
    """CPU kernel choice (`engine.kernels.KernelChoice.as_dict`); empty on a GPU or a remote backend."""


class Backend(Protocol):
    """What the completion pipeline and the actions need of a loaded backend (local or HTTP)."""

    def encode(self, text: str) -> list[int]: ...
    def count_tokens(self, text: str) -> int: ...
    def generate(self, request: GenerationRequest) -> GenerationResult: ...
    @property
    def info(self) -> Any: ...
