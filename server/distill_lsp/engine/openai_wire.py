"""The OpenAI-compatible wire format: the JSON a generation request sends, and the
server-sent events its streamed answer arrives in (text pieces, reasoning kept apart)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .types import GenerationRequest

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


class EndpointFailure(Exception):
    """What went wrong with one request, in words for the user."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status the server answered with (0: not an HTTP error)."""


def sse_payload(line: str) -> dict[str, Any] | None:
    """The JSON object of one server-sent-events ``data:`` line; None for anything else."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise EndpointFailure(f"sent an unreadable stream chunk ({exc})") from exc
    if isinstance(payload, dict) and "error" in payload:
        raise EndpointFailure(f"reported an error in the stream: {str(payload['error'])[:200]}")
    return payload if isinstance(payload, dict) else None


@dataclass
class ThinkJoiner:
    """Chat deltas as one text: a server's separate reasoning field (vLLM, SGLang with a
    reasoning parser) becomes ``<think>...</think>`` before the answer, as a local model writes it."""

    thinking: bool = False

    def add(self, delta: dict[str, Any]) -> str:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
        content = delta.get("content") or ""
        piece = ""
        if reasoning:
            piece += "" if self.thinking else _THINK_OPEN
            self.thinking = True
            piece += reasoning
        if content and self.thinking:
            piece += _THINK_CLOSE
            self.thinking = False
        return piece + content

    def close(self) -> str:
        was, self.thinking = self.thinking, False
        return _THINK_CLOSE if was else ""


def chunk_piece(payload: dict[str, Any], joiner: ThinkJoiner | None) -> tuple[str, str | None]:
    """(new text, finish reason) of one streamed chunk; `joiner` for chat chunks."""
    choices = payload.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return "", None
    choice = choices[0]
    if joiner is None:
        return str(choice.get("text") or ""), choice.get("finish_reason")
    return joiner.add(choice.get("delta") or {}), choice.get("finish_reason")


def chunk_token_probs(payload: dict[str, Any]) -> list[tuple[str, float]]:
    """(token text, probability) of each token in a streamed completions chunk that carries
    ``logprobs`` (the legacy completions shape: ``tokens`` and ``token_logprobs``); [] when
    it carries none or they do not read as numbers."""
    choices = payload.get("choices") or []
    logprobs = choices[0].get("logprobs") if choices and isinstance(choices[0], dict) else None
    if not isinstance(logprobs, dict):
        return []
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list) or len(tokens) != len(values):
        return []
    out = []
    for token, value in zip(tokens, values):
        if not isinstance(token, str) or not isinstance(value, (int, float)) or isinstance(value, bool):
            return []
        out.append((token, math.exp(min(0.0, float(value)))))
    return out


def request_body(request: GenerationRequest, model: str, logprobs: bool = True) -> dict[str, Any]:
    """The JSON body: prompt or messages, token limit and sampling, streamed; completions ask
    for each token's log-probability (`logprobs`) unless the server refused it before."""
    p = request.profile
    body: dict[str, Any] = {"model": model, "max_tokens": request.max_new_tokens, "stream": True,
                            "temperature": p.temperature if p.do_sample else 0.0}
    if request.messages:
        body["messages"] = [dict(m) for m in request.messages]
    else:
        body["prompt"] = request.prompt_text
        if logprobs:
            body["logprobs"] = 1
    if p.do_sample:
        body["top_p"] = p.top_p
        if p.top_k:
            body["top_k"] = p.top_k
    # always sent (1.0 too: llama.cpp's server applies 1.1 when none is given); vLLM / SGLang / TGI
    # name it one way, llama.cpp / Ollama the other
    body["repetition_penalty"] = body["repeat_penalty"] = p.repetition_penalty
    if request.seed is not None:
        body["seed"] = request.seed
    return body


def json_body(body: dict[str, Any]) -> bytes:
    """The request as JSON with non-ASCII escaped: a lone surrogate in a document (legal in
    LSP's JSON) goes out as ``\\ud800`` instead of failing to encode as UTF-8."""
    return json.dumps(body).encode("ascii")


def pick_model(listing: Any, wanted: str) -> tuple[str, int]:
    """(model name, context length or 0) from a `/models` answer: `wanted`, else the first listed."""
    listed = [m for m in listing.get("data", []) if isinstance(m, dict)] if isinstance(listing, dict) else []
    chosen = next((m for m in listed if m.get("id") == wanted), None if wanted else (listed or [None])[0])
    if chosen is None:
        return wanted, 0
    return wanted or str(chosen.get("id", "")), int(chosen.get("max_model_len") or 0)


def is_done(line: str) -> bool:
    """The ``data: [DONE]`` line that ends an OpenAI stream."""
    return line.startswith("data:") and line[5:].strip() == "[DONE]"
