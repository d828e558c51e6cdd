"""The OpenAI-compatible backend: its pure parts, and its faults against a fake server
(connection refused, HTTP 500, no first token, a dropped stream), each giving one message
per outage, fast failures during the backoff, and recovery when the endpoint answers."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from distill_lsp.engine.openai import Backoff, EndpointConfig, OpenAIBackend
from distill_lsp.engine.openai_wire import ThinkJoiner, chunk_piece, is_done, request_body, sse_payload
from distill_lsp.engine.remote_tokens import estimate_tokens
from distill_lsp.engine.types import CancelToken, EndpointUnavailable, GenerationRequest, StopReason
from distill_lsp.profiles import BUILTIN_PROFILES
from tests.fixtures.fake_openai import FakeOpenAI, free_port

GREEDY = BUILTIN_PROFILES["greedy"]


def request(text: str = "def add(a, b):\n    ", **kw) -> GenerationRequest:
    return GenerationRequest(prompt_ids=[0] * 5, profile=GREEDY, max_new_tokens=16, prompt_text=text, **kw)


def backend(url: str, **kw) -> OpenAIBackend:
    config = EndpointConfig(url, connect_timeout=1.0, first_token_timeout=kw.pop("first", 1.0), **kw)
    return OpenAIBackend(config, None, Backoff(first_s=0.3, max_s=1.0))


@pytest.fixture
def fake():
    server = FakeOpenAI()
    yield server
    server.stop()


@pytest.mark.parametrize("given, expected", [
    ("http://gpu:8000", "http://gpu:8000/v1"), ("http://gpu:8000/v1/", "http://gpu:8000/v1"),
    ("https://x.example/api/v1", "https://x.example/api/v1"),
])
def test_base_url_gets_v1(given: str, expected: str) -> None:
    assert EndpointConfig(given).base_url == expected


def test_sse_lines() -> None:
    assert sse_payload('data: {"choices": [{"text": "x"}]}') == {"choices": [{"text": "x"}]}
    assert sse_payload(": keep-alive") is None and sse_payload("") is None
    assert is_done("data: [DONE]") and is_done("data:[DONE]") and not is_done('data: {"a": 1}')
    with pytest.raises(Exception, match="error in the stream"):
        sse_payload('data: {"error": {"message": "boom"}}')


def test_reasoning_fields_become_think_tags() -> None:
    joiner = ThinkJoiner()
    pieces = [chunk_piece({"choices": [{"delta": d, "finish_reason": None}]}, joiner)[0] for d in (
        {"reasoning_content": "hmm"}, {"reasoning": " more"}, {"content": "Answer"}, {"content": "."})]
    assert "".join(pieces) + joiner.close() == "<think>hmm more</think>Answer."
    assert chunk_piece({"choices": [{"text": "ab", "finish_reason": "length"}]}, None) == ("ab", "length")


def test_request_body_sampling() -> None:
    body = request_body(request(seed=3), "m")
    assert body == {"model": "m", "max_tokens": 16, "stream": True, "temperature": 0.0,
                    "prompt": "def add(a, b):\n    ", "seed": 3, "repetition_penalty": GREEDY.repetition_penalty,
                    "repeat_penalty": GREEDY.repetition_penalty, "logprobs": 1}
    chat = request_body(GenerationRequest([1], BUILTIN_PROFILES["creative"], 8,
                                          messages=({"role": "user", "content": "hi"},)), "m")
    assert chat["messages"] == [{"role": "user", "content": "hi"}] and "prompt" not in chat
    assert chat["temperature"] > 0 and "top_p" in chat


def test_backoff_doubles_and_tells_once() -> None:
    now = [0.0]
    backoff = Backoff(first_s=1, max_s=4, clock=lambda: now[0])
    assert backoff.failed("x failed").startswith("distill-lsp: x failed")
    with pytest.raises(EndpointUnavailable) as raised:
        backoff.check()
    assert raised.value.notice == ""
    now[0] = 1.0
    backoff.check()  # the retry is due
    assert backoff.failed("x failed") == ""  # the same outage: no second message
    assert backoff.retry_at == 3.0
    backoff.failed("x"), backoff.failed("x")
    assert backoff.retry_at - now[0] == 4  # capped
    backoff.succeeded()
    backoff.check()
    assert backoff.failed("again").startswith("distill-lsp:")  # a new outage is told again


def test_character_estimate() -> None:
    assert estimate_tokens("") == 0 and estimate_tokens("abc") == 1 and estimate_tokens("abcd") == 2


def test_streams_a_completion_and_applies_the_stop_rule(fake: FakeOpenAI) -> None:
    b = backend(fake.url)
    assert b.model == "fake-model" and b.info.context_length == 1024 and b.info.source == "openai"
    result = b.generate(request())
    assert result.text == "return a + b\n" and result.stop_reason is StopReason.EOS
    assert fake.requests[-1]["prompt"] == "def add(a, b):\n    " and fake.requests[-1]["stream"] is True
    stopped = b.generate(request(stop_when=lambda text: "a + b" in text))
    assert stopped.text == "return a + b" and stopped.stop_reason is StopReason.STOP_RULE
    b.close()


def test_api_key_is_sent_from_the_named_variable_and_never_logged(fake, monkeypatch, caplog) -> None:
    monkeypatch.setenv("MY_TEAM_KEY", "sk-secret-value-123")
    caplog.set_level(logging.DEBUG)
    b = backend(fake.url, api_key_env="MY_TEAM_KEY")
    b.generate(request())
    assert fake.headers[-1]["Authorization"] == "Bearer sk-secret-value-123"
    assert "sk-secret-value-123" not in caplog.text
    b.close()


def test_cancel_closes_the_connection_at_once(fake: FakeOpenAI) -> None:
    fake.mode = "slow"
    b = backend(fake.url)
    token = CancelToken()
    threading.Timer(0.5, token.cancel).start()
    started = time.perf_counter()
    result = b.generate(request(cancel=token))
    assert time.perf_counter() - started < 1.5
    assert result.stop_reason is StopReason.CANCELLED and result.text.startswith("x ")
    # the fake streams for 60 s; its write fails within two pieces once the socket is closed
    assert fake.disconnected.wait(10), "the server kept streaming to a cancelled request"
    b.close()


@pytest.mark.parametrize("mode, what", [
    ("refused", "cannot connect"),
    ("error500", "HTTP 500: {\"error\": \"model crashed\"}"),
    ("stall", "no text within 1 s (firstTokenTimeout)"),
    ("drop", "the connection dropped mid-answer"),
])
def test_a_failed_endpoint_is_told_once_then_fails_fast_then_recovers(mode: str, what: str) -> None:
    port = free_port()
    server = None if mode == "refused" else FakeOpenAI(mode, port)
    b = backend(f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(EndpointUnavailable) as first:
            b.generate(request())
        assert f"127.0.0.1:{port}/v1/completions" in first.value.notice and what in first.value.notice
        sent = len(server.requests) if server else 0
        with pytest.raises(EndpointUnavailable) as second:  # within the backoff: no request, no message
            b.generate(request())
        assert second.value.notice == "" and (len(server.requests) if server else 0) == sent
        if server is None:
            server = FakeOpenAI("ok", port)
        server.mode = "ok"
        time.sleep(0.35)
        assert b.generate(request()).text == "return a + b\n"
        assert not b.backoff.down
    finally:
        b.close()
        if server is not None:
            server.stop()


def test_cancel_closes_the_connection_every_time() -> None:
    """A cancel that lands while the stream is being closed once left the connection open
    in httpx's pool, still streaming (about 1 run in 10); the close is now shielded."""
    for i in range(12):  # cancels at every phase of the fake's 0.1 s piece interval
        fake = FakeOpenAI()
        fake.mode = "slow"
        b = backend(fake.url)
        token = CancelToken()
        threading.Timer(0.2 + 0.025 * i, token.cancel).start()
        result = b.generate(request(cancel=token))
        assert result.stop_reason is StopReason.CANCELLED
        assert fake.disconnected.wait(3), "the server kept streaming to a cancelled request"
        b.close()
        fake.stop()


def test_token_probabilities_are_read_from_logprobs_chunks() -> None:
    from distill_lsp.engine.openai_wire import chunk_token_probs

    chunk = {"choices": [{"text": " a +", "logprobs": {"tokens": [" a", " +"], "token_logprobs": [-0.1, -2.0]}}]}
    (t1, p1), (t2, p2) = chunk_token_probs(chunk)
    assert (t1, t2) == (" a", " +") and p1 == pytest.approx(0.904837, rel=1e-5) and p2 == pytest.approx(0.135335, rel=1e-5)
    for broken in ({}, {"choices": []}, {"choices": [{"logprobs": None}]},
                   {"choices": [{"logprobs": {"tokens": ["a"], "token_logprobs": [None]}}]},
                   {"choices": [{"logprobs": {"tokens": ["a", "b"], "token_logprobs": [-1.0]}}]}):
        assert chunk_token_probs(broken) == []
    assert "logprobs" in request_body(request(), "m") and "logprobs" not in request_body(request(), "m", logprobs=False)
    chat = GenerationRequest([0], GREEDY, 8, messages=({"role": "user", "content": "hi"},))
    assert "logprobs" not in request_body(chat, "m")  # chat answers are not scored


def test_the_endpoints_probabilities_give_confidence_and_cut_unsure_tokens(fake: FakeOpenAI) -> None:
    fake.pieces = ["return", " a", " +", " b", "\n"]
    fake.probs = [0.9, 0.8, 0.05, 0.7, 0.6]
    b = backend(fake.url)
    result = b.generate(request())
    assert result.text == "return a + b\n"
    assert result.token_probs == pytest.approx((0.9, 0.8, 0.05, 0.7, 0.6))
    assert result.token_ends == (6, 8, 10, 12, 13)
    cut = b.generate(request(min_token_probability=0.1))
    assert cut.text == "return a" and cut.stop_reason is StopReason.UNSURE and len(cut.token_probs) == 2
    b.close()


def test_a_server_that_refuses_logprobs_is_asked_without_them() -> None:
    fake = FakeOpenAI("strict")
    try:
        b = backend(fake.url)
        first = b.generate(request())
        assert first.text == "return a + b\n" and first.token_probs == ()
        assert "logprobs" in fake.requests[-2] and "logprobs" not in fake.requests[-1]
        b.generate(request())
        assert "logprobs" not in fake.requests[-1] and not b.logprobs  # remembered
        b.close()
    finally:
        fake.stop()
