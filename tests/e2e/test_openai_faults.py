"""The real server with backend `openai` against a failing endpoint (the fault cases only;
the main path runs against llama.cpp's server in test_openai_llama_cpp.py): completions
answer empty, the user gets one message naming the URL, the server keeps answering, and
suggestions come back once the endpoint does."""

from __future__ import annotations

import time
from typing import Any

from tests.fixtures.fake_openai import FakeOpenAI, free_port
from tests.fixtures.lsp_wire import StdioSession
from tests.fixtures.real_server import did_open, inline, shutdown, start_real_server

DOC = "def add(a, b):\n    "


def call(session: StdioSession, message: dict[str, Any], timeout: float = 30) -> tuple[dict[str, Any], list[str]]:
    """The response to `message` and the showMessage texts that came before it."""
    session.send(message)
    shown = []
    while True:
        got = session.recv(timeout)
        if got.get("method") == "window/showMessage":
            shown.append(got["params"]["message"])
        elif "method" not in got and got.get("id") == message["id"]:
            return got, shown


def test_failing_endpoint_gives_empty_answers_one_message_and_recovers() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    options = {"backend": "openai", "endpoint": url, "connectTimeout": 1, "firstTokenTimeout": 2, "maxNewTokens": 8}
    session, status = start_real_server(options, ready_timeout=60)
    fake = None
    try:
        assert status["state"] == "ready", status
        did_open(session, "file:///w/add.py", DOC)
        messages: list[str] = []
        for i in range(4):  # refused: empty answers, one message for the outage
            response, shown = call(session, inline(i, "file:///w/add.py", 1, 4))
            assert response["result"] is None or response["result"]["items"] == [], response
            messages += shown
        assert len(messages) == 1, messages
        assert f"{url}/completions" in messages[0] and "cannot connect" in messages[0]
        fake = FakeOpenAI("ok", port)
        fake.pieces = ["\n    return", " a + b", "\n"]
        deadline, text = time.monotonic() + 40, ""
        while not text and time.monotonic() < deadline:  # the backoff lets a retry through within seconds
            response, shown = call(session, inline(f"r{time.monotonic()}", "file:///w/add.py", 1, 4))
            assert not shown, shown
            items = (response["result"] or {}).get("items", [])
            text = items[0]["insertText"] if items else ""
            time.sleep(0.3)
        assert text == "return a + b"
        assert "def add(a, b):" in fake.requests[-1]["prompt"]  # the raw prompt, streamed
        assert fake.requests[-1]["stream"] is True and fake.requests[-1]["model"] == "fake-model"
        fake.mode = "error500"  # a new outage is told again, once
        did_open(session, "file:///w/sub.py", DOC.replace("add", "sub"))  # not in the typed-ahead cache
        _, first = call(session, inline("e1", "file:///w/sub.py", 1, 4))
        _, second = call(session, inline("e2", "file:///w/sub.py", 1, 4))
        assert len(first) == 1 and "HTTP 500" in first[0] and second == []
        assert shutdown(session, 30) == 0
    finally:
        session.kill()
        if fake is not None:
            fake.stop()
