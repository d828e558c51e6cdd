"""Battery, concurrency: request floods, cancel floods and edit storms against the real
server, counted on the wire: every request answered exactly once, none with a result
after its cancel, and the server still answers normally afterwards."""

from __future__ import annotations

import queue
import time
from collections import Counter
from typing import Any

import pytest

from tests.fixtures.lsp_wire import StdioSession, frame, notification
from tests.fixtures.real_server import did_open, inline, shutdown, start_real_server

ADD = "def add(a, b):\n    return "
CANCELLED = -32800
DOCS = 10
FLOOD = 200


@pytest.fixture(scope="module")
def server():
    session, status = start_real_server({"profile": "greedy", "maxNewTokens": 6, "contextTokens": 256})
    assert status["state"] == "ready", status
    yield session
    try:
        assert shutdown(session, 30) == 0
    finally:
        session.kill()


def collect_until(session: StdioSession, last_id: Any, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Every response up to and including the one to `last_id`, in wire order."""
    responses, deadline = [], time.monotonic() + timeout
    while True:
        message = session.recv(max(0.1, deadline - time.monotonic()))
        if "method" in message:
            continue
        responses.append(message)
        if message.get("id") == last_id:
            return responses


def drain(session: StdioSession, seconds: float) -> list[dict[str, Any]]:
    """Responses arriving within `seconds` (there should be none)."""
    late, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = session.inbox.get(timeout=left)
        except queue.Empty:
            break
        if message is not None and "method" not in message:
            late.append(message)
    return late


def check_alive(session: StdioSession, tag: str) -> None:
    uri = f"file:///battery/alive-{tag}.py"
    did_open(session, uri, ADD)
    session.send(inline(f"alive-{tag}", uri, 1, 11))
    answer = collect_until(session, f"alive-{tag}")[-1]
    assert answer["result"]["items"] and answer["result"]["items"][0]["insertText"].strip(), answer


def test_flood_then_cancel_everything(server: StdioSession) -> None:
    uris = [f"file:///battery/flood-{k}.py" for k in range(DOCS)]
    for uri in uris:
        did_open(server, uri, ADD)
    ids = list(range(1, FLOOD + 1))
    requests = b"".join(frame(inline(i, uris[i % DOCS], 1, 11)) for i in ids)
    cancels = b"".join(frame(notification("$/cancelRequest", {"id": i})) for i in ids)
    sentinel = frame(inline("sentinel", "file:///battery/never-opened.py", 0, 0))
    server.send_raw(requests + cancels + sentinel)  # one write: the server reads them in this order

    responses = collect_until(server, "sentinel")
    late = drain(server, 3.0)
    assert late == [], f"answers after the cancels were processed: {late[:3]}"
    counts = Counter(r["id"] for r in responses if r["id"] != "sentinel")
    assert set(counts) == set(ids), f"unanswered: {sorted(set(ids) - set(counts))[:10]}"
    assert max(counts.values()) == 1, f"answered twice: {[i for i, n in counts.items() if n > 1][:10]}"
    for r in responses:
        assert "result" in r or r["error"]["code"] == CANCELLED, r
    cancelled = sum(1 for r in responses if "error" in r)
    assert cancelled > 0, "the cancels arrived after every answer: nothing was tested"
    check_alive(server, "flood")


def test_edit_request_storm(server: StdioSession) -> None:
    uri = "file:///battery/storm.py"
    did_open(server, uri, ADD)
    text, burst = ADD, []
    for version in range(2, 102):  # type "a+b" one character at a time, asking after each
        char = "ab+ "[version % 4]
        line, col = 1, len(text.split("\n")[1])
        burst.append(frame(notification("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": {"line": line, "character": col},
                                          "end": {"line": line, "character": col}}, "text": char}]})))
        text += char
        burst.append(frame(inline(f"s{version}", uri, line, col + 1)))
    server.send_raw(b"".join(burst))
    responses = collect_until(server, "s101")
    responses += drain(server, 2.0)
    counts = Counter(r["id"] for r in responses)
    assert set(counts) == {f"s{v}" for v in range(2, 102)} and max(counts.values()) == 1
    assert all("result" in r for r in responses), [r for r in responses if "error" in r][:3]
    # the server's copy of the document followed every edit: ask at its true end
    end = len(text.split("\n")[1])
    server.send(inline("final", uri, 1, end))
    final = collect_until(server, "final")[-1]
    for item in final["result"]["items"]:
        assert item["range"]["start"] == {"line": 1, "character": end}
    log = server.stderr_tail() + "".join(line.decode(errors="replace") for line in server.stderr_lines)
    assert "out of step" not in log and "Traceback" not in log
    check_alive(server, "storm")


def test_request_flood_is_answered(server: StdioSession) -> None:
    """200 requests without cancels: all answered once (most superseded, answered empty)."""
    uri = "file:///battery/flood-nocancel.py"
    did_open(server, uri, ADD)
    server.send_raw(b"".join(frame(inline(f"n{i}", uri, 1, 11)) for i in range(FLOOD)))
    responses = collect_until(server, f"n{FLOOD - 1}", timeout=180)
    responses += drain(server, 2.0)
    counts = Counter(r["id"] for r in responses)
    assert len(counts) == FLOOD and max(counts.values()) == 1
    newest = next(r for r in responses if r["id"] == f"n{FLOOD - 1}")
    assert newest["result"]["items"], "the newest request gets the suggestion"
    check_alive(server, "after-flood")
