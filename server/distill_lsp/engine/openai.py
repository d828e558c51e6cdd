"""The OpenAI-compatible HTTP backend: vLLM, SGLang, TGI, llama.cpp's server, Ollama.

Inline completion sends the raw prompt (the same context and template as the local
backend) to ``/v1/completions``; code actions send their chat messages to
``/v1/chat/completions`` and the server applies the model's chat template. Both stream
(server-sent events): the request's stop rule sees the text as it arrives, and a
cancelled or superseded request closes its connection at once, which makes the server
stop generating.

Timeouts: `connect_timeout` to connect, `first_token_timeout` from sending to the first
text, `total_timeout` for the whole generation (the text so far is kept, as when the
token limit is reached). A failed endpoint (refused, timed out before the first text,
an HTTP error, a dropped stream) raises `EndpointUnavailable` carrying one message for
the user per outage; further requests fail fast until a retry time that backs off
(`Backoff`), and the first answer after that ends the outage.

The HTTP client runs on an event loop thread owned by the backend; `generate` blocks the
engine worker that calls it, waking every `POLL_S` to notice a cancelled token.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .openai_wire import (EndpointFailure, ThinkJoiner, chunk_piece, chunk_token_probs, is_done, json_body, pick_model,
                          request_body, sse_payload)
from .remote_tokens import LocalTokenizer, estimate_tokens
from .types import EndpointUnavailable, GenerationRequest, GenerationResult, ModelInfo, StopReason

logger = logging.getLogger(__name__)

POLL_S = 0.05
DEFAULT_CONTEXT = 4096


@dataclass(frozen=True)
class EndpointConfig:
    """Where the server is and how long to wait for it."""

    endpoint: str
    model: str = ""
    api_key_env: str = ""
    connect_timeout: float = 3.0
    first_token_timeout: float = 30.0
    total_timeout: float = 120.0

    @property
    def base_url(self) -> str:
        """The endpoint with ``/v1`` at the end (added when the user left it out)."""
        url = self.endpoint.strip().rstrip("/")
        return url if url.endswith("/v1") else f"{url}/v1"


class Backoff:
    """The health of one endpoint: after a failure, requests fail fast until `retry_at`;
    the delay doubles with each failed retry, from `first_s` up to `max_s`."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.first_s, self.max_s, self.clock = first_s, max_s, clock
        self.failures = 0
        self.retry_at = 0.0
        self.last_error = ""

    @property
    def down(self) -> bool:
        return self.failures > 0

    def check(self) -> None:
        """Raise (without a notice) while the endpoint is down and its retry time is ahead."""
        if self.down and self.clock() < self.retry_at:
            raise EndpointUnavailable(f"{self.last_error} (next retry in {self.retry_at - self.clock():.1f} s)")

    def failed(self, message: str) -> str:
        """Record a failure; the notice for the user ("" when the outage was already told)."""
        first = not self.down
        self.failures += 1
        delay = min(self.max_s, self.first_s * 2 ** (self.failures - 1))
        self.retry_at = self.clock() + delay
        self.last_error = message
        logger.warning("%s; retrying in %.1f s", message, delay)
        return f"distill-lsp: {message}. Suggestions stay empty until it answers again." if first else ""

    def succeeded(self) -> None:
        if self.down:
            logger.info("the endpoint answers again after %d failed attempts", self.failures)
        self.failures = 0
        self.last_error = ""


@dataclass
class _Progress:
    """What one streamed request has produced so far (written on the loop thread)."""

    text: str = ""
    chunks: int = 0
    first_at: float | None = None
    finish: str | None = None
    stopped_by_rule: bool = False
    unsure: bool = False
    """Stopped before a token less probable than the request's `min_token_probability`."""
    truncated: bool = False
    started: float = field(default_factory=time.perf_counter)
    probs: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)


class OpenAIBackend:
    """Generates through an OpenAI-compatible server; `generate` blocks the engine worker."""

    chat_api = True
    """Code actions send chat messages; the server applies the chat template."""

    def __init__(self, config: EndpointConfig, local: LocalTokenizer | None = None,
                 backoff: Backoff | None = None) -> None:
        import httpx

        self.config = config
        self.local = local
        self.tokenizer = local.tokenizer if local else None
        self.backoff = backoff or Backoff()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="distill-http", daemon=True)
        self._thread.start()
        timeout = httpx.Timeout(connect=config.connect_timeout, read=None, write=config.connect_timeout, pool=None)
        self._client = httpx.AsyncClient(timeout=timeout)
        self.logprobs = True
        """Completions ask for log-probabilities until the server refuses them once."""
        started = time.perf_counter()
        model, context = self._probe()
        self.model = model
        self.info = self._model_info(model, context, time.perf_counter() - started)

    # -- tokens ----------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids with the local tokenizer; without one, placeholders that only count."""
        if self.tokenizer is not None:
            return list(self.tokenizer(text).input_ids)
        return [0] * estimate_tokens(text)

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=False).input_ids)
        return estimate_tokens(text)

    # -- generation ------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Stream one generation; raise EndpointUnavailable when the endpoint fails."""
        self.backoff.check()
        chat = bool(request.messages)
        url = f"{self.config.base_url}/{'chat/completions' if chat else 'completions'}"
        progress = _Progress()
        body = request_body(request, self.model, logprobs=self.logprobs)
        try:
            self._wait(asyncio.run_coroutine_threadsafe(self._stream(url, body, request, progress, chat),
                                                        self._loop), request)
        except EndpointFailure as exc:
            if not (exc.status in (400, 422) and "logprobs" in body):
                message = f"the OpenAI-compatible endpoint {url} failed: {exc}"
                raise EndpointUnavailable(message, self.backoff.failed(message)) from None
            logger.warning("%s refused logprobs (%s); asking without them from now on", url, exc)
            self.logprobs = False  # the server does not take them: confidence stays unknown
            return self.generate(request)
        self.backoff.succeeded()
        return self._result(request, progress)

    def _wait(self, future: concurrent.futures.Future, request: GenerationRequest) -> None:
        """Block until the stream ends; a cancelled token cancels it (closing the connection)."""
        while True:
            done, _ = concurrent.futures.wait([future], timeout=POLL_S)
            if done:
                break
            if request.cancel.cancelled:
                future.cancel()
                logger.debug("%s: cancelled; connection closed", request.request_id)
                return
        if not future.cancelled():
            future.result()

    def _result(self, request: GenerationRequest, progress: _Progress) -> GenerationResult:
        ended = time.perf_counter()
        return GenerationResult(
            text=progress.text,
            new_tokens=progress.chunks,
            prompt_tokens=len(request.prompt_ids),
            stop_reason=self._stop_reason(request, progress),
            time_to_first_token_s=(progress.first_at or ended) - progress.started,
            total_s=ended - progress.started,
            token_probs=tuple(progress.probs),
            token_ends=tuple(progress.ends),
        )

    @staticmethod
    def _stop_reason(request: GenerationRequest, progress: _Progress) -> StopReason:
        if request.cancel.cancelled:
            return request.cancel.reason or StopReason.CANCELLED
        if progress.stopped_by_rule:
            return StopReason.STOP_RULE
        if progress.unsure:
            return StopReason.UNSURE
        if progress.finish in ("stop", "done"):
            return StopReason.EOS
        return StopReason.LENGTH

    async def _stream(self, url: str, body: dict[str, Any], request: GenerationRequest, progress: _Progress,
                      chat: bool) -> None:
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.total_timeout) as total:
                async with asyncio.timeout(cfg.first_token_timeout) as first:
                    await self._read(url, body, request, progress, chat, first)
        except TimeoutError:
            if progress.first_at is None:
                raise EndpointFailure(f"no text within {cfg.first_token_timeout:g} s (firstTokenTimeout)") from None
            if not total.expired():
                raise
            progress.truncated = True
            logger.warning("%s: stopped after %g s (totalTimeout)", request.request_id, cfg.total_timeout)
        except EndpointFailure:
            raise
        except Exception as exc:
            raise EndpointFailure(_describe(exc)) from None

    async def _read(self, url: str, body: dict[str, Any], request: GenerationRequest, progress: _Progress,
                    chat: bool, first: asyncio.Timeout) -> None:
        joiner = ThinkJoiner() if chat else None
        if not body["model"]:  # the endpoint was down at start: ask it now which model it serves
            body["model"] = await self._discover_model()
        response = await self._client.send(
            self._client.build_request("POST", url, content=json_body(body),
                                       headers={**self._headers(), "Content-Type": "application/json"}), stream=True)
        try:
            await self._read_stream(response, request, progress, first, joiner)
        finally:
            # closing an unfinished response closes its connection, so the server stops;
            # shielded, because a cancel arriving during the close (the request cancelled
            # just as the loop saw it) left the connection open in httpx's pool, streaming
            await asyncio.shield(response.aclose())

    async def _read_stream(self, response: Any, request: GenerationRequest, progress: _Progress,
                           first: asyncio.Timeout, joiner: ThinkJoiner | None) -> None:
        if response.status_code >= 400:
            raise EndpointFailure(await _http_error(response, self.config.api_key_env), response.status_code)
        async for piece, finish, probs in _pieces(response.aiter_lines(), joiner):
            if piece and progress.first_at is None:
                progress.first_at = time.perf_counter()
                first.reschedule(None)
            if probs and not _add_probs(progress, piece, probs, request.min_token_probability):
                return  # the caller closes the response: the server stops
            progress.text += piece
            progress.chunks += bool(piece)
            progress.finish = finish or progress.finish
            if request.cancel.cancelled:
                return
            if piece and request.stop_when is not None and request.stop_when(progress.text):
                progress.stopped_by_rule = True
                return  # the caller closes the response, and with it the connection: the server stops
            if finish is not None:
                break
        else:
            if progress.finish is None:
                raise EndpointFailure("the connection dropped mid-answer (the stream ended without [DONE])")
        progress.text += joiner.close() if joiner else ""

    def _headers(self) -> dict[str, str]:
        name = self.config.api_key_env
        key = os.environ.get(name, "") if name else ""
        return {"Authorization": f"Bearer {key}"} if key else {}

    # -- setup -------------------------------------------------------------------------
    def _probe(self) -> tuple[str, int]:
        """The model name and context length, from `/models` where the server says them."""
        model, context = self.config.model, 0
        url = f"{self.config.base_url}/models"
        try:
            data = asyncio.run_coroutine_threadsafe(self._get_json(url), self._loop).result()
        except Exception as exc:  # not fatal: the first request reports the endpoint's state
            logger.warning("cannot list the models of %s: %s", url, _describe(exc))
            return model, 0
        model, context = pick_model(data, model)
        logger.info("endpoint %s serves %s", self.config.base_url, model or "no model")
        return model, context

    async def _discover_model(self) -> str:
        model, context = pick_model(await self._get_json(f"{self.config.base_url}/models"), self.config.model)
        if model:
            self.model = model
            self.info = dataclasses.replace(self.info, name=model, context_length=context or self.info.context_length)
        return model

    async def _get_json(self, url: str) -> Any:
        async with asyncio.timeout(self.config.first_token_timeout):
            response = await self._client.get(url, headers=self._headers())
        response.raise_for_status()
        return response.json()

    def _model_info(self, model: str, context: int, load_s: float) -> ModelInfo:
        from .loader import _special_tokens

        local = self.local
        context = context or (local.context_length if local else 0) or DEFAULT_CONTEXT
        return ModelInfo(
            name=model or "(the endpoint's model)", source="openai", path=self.config.base_url, device="remote",
            dtype="remote", context_length=context, model_type=local.model_type if local else "",
            has_chat_template=True, special_tokens=tuple(_special_tokens(local.tokenizer)) if local else (),
            load_s=load_s)

    def close(self) -> None:
        """Close the connections and stop the loop thread."""
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


async def _pieces(lines: AsyncIterator[str], joiner: ThinkJoiner | None
                  ) -> AsyncIterator[tuple[str, str | None, list[tuple[str, float]]]]:
    """(text, finish reason, token probabilities) per chunk; ends with ("", "done", []) at ``[DONE]``."""
    async for line in lines:
        if is_done(line):
            yield "", "done", []
            return
        payload = sse_payload(line)
        if payload is not None:
            yield (*chunk_piece(payload, joiner), chunk_token_probs(payload) if joiner is None else [])


def _add_probs(progress: _Progress, piece: str, probs: list[tuple[str, float]], floor: float) -> bool:
    """Record the probabilities of the tokens `piece` is made of; False (with the text before
    that token added) when one is below `floor`: the rest would be a guess."""
    aligned = "".join(token for token, _ in probs) == piece
    end = len(progress.text)
    for token, probability in probs:
        if probability < floor:
            progress.text += piece[:end - len(progress.text)] if aligned else ""
            progress.unsure = True
            return False
        end += len(token) if aligned else 0
        progress.probs.append(probability)
        progress.ends.append(end if aligned else len(progress.text) + len(piece))
    return True


def check_endpoint(config: EndpointConfig) -> str:
    """One line for `doctor`: does the endpoint list its models (a plain GET, no generation)?"""
    import httpx

    url = f"{config.base_url}/models"
    key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
    try:
        response = httpx.get(url, timeout=config.connect_timeout, headers={"Authorization": f"Bearer {key}"} if key else {})
    except httpx.HTTPError as exc:
        return f"endpoint {url}: {_describe(exc)}"
    if response.status_code >= 400:
        return f"endpoint {url}: HTTP {response.status_code}"
    models = [m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)]
    return f"endpoint {url}: answers; serves {models}"


async def _http_error(response: Any, api_key_env: str) -> str:
    body = (await response.aread()).decode("utf-8", "replace").strip()
    hint = ""
    if response.status_code in (401, 403):
        hint = f" (check the API key in ${api_key_env})" if api_key_env else " (the server wants an API key: set apiKeyEnv)"
    return f"HTTP {response.status_code}{hint}: {body[:200]}"


def _describe(exc: BaseException) -> str:
    """An httpx error in words: which step failed."""
    import httpx

    if isinstance(exc, EndpointFailure):
        return str(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return "connecting timed out (connectTimeout)"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or 'connection refused'})"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return f"the connection dropped mid-answer ({exc or type(exc).__name__})"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}"
