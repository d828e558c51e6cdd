"""End to end over stdio: the fixture server in a subprocess, spoken to in raw bytes."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator

import psutil
import pytest

from tests.fixtures.lsp_wire import StdioSession, frame, notification, request
from tests.fixtures.transport_server import FIXED_INSERT_TEXT

PARSE, INVALID_REQUEST, NOT_INITIALIZED, CANCELLED = -32700, -32600, -32002, -32800
INLINE_PARAMS = {
    "textDocument": {"uri": "file:///a.py"},
    "position": {"line": 0, "character": 0},
    "context": {"triggerKind": 1},
}


@pytest.fixture
def session() -> Iterator[StdioSession]:
    started = StdioSession("--exit-grace", "1.0")
    yield started
    started.kill()


def sleep_request(msg_id: object, seconds: float = 0) -> dict:
    return request(msg_id, "test/sleep", {"seconds": seconds})


def drain(session: StdioSession, timeout: float = 10.0) -> list[dict]:
    """Every message until the server closes its output."""
    messages = []
    while (message := session.inbox.get(timeout=timeout)) is not None:
        messages.append(message)
    assert session.stdout_error is None, session.stdout_error
    return messages


def test_inline_completion_and_non_ascii_lengths(session):
    session.initialize()
    session.send(request(1, "textDocument/inlineCompletion", INLINE_PARAMS))
    assert session.recv_response(1)["result"] == {"items": [{"insertText": FIXED_INSERT_TEXT}]}


def test_request_before_initialize_is_refused_then_initialize_works(session):
    session.send(sleep_request(1))
    assert session.recv_response(1)["error"]["code"] == NOT_INITIALIZED
    session.initialize()
    session.send(sleep_request(2))
    assert session.recv_response(2)["result"] == {"slept": 0}


def test_malformed_json_gets_parse_error_and_the_session_goes_on(session):
    session.initialize()
    session.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    reply = session.recv()
    assert reply["id"] is None and reply["error"]["code"] == PARSE
    session.send(sleep_request(2))
    assert session.recv_response(2)["result"] == {"slept": 0}


@pytest.mark.parametrize(
    "bad_header",
    [b"Content-Length: 5\r\n\r\n", b"Content-Length: 400\r\n\r\n", b"Content-Length: x\r\n\r\n", b"Content-Type: a\r\n\r\n"],
)
def test_wrong_content_length_followed_by_a_valid_request_is_still_answered(session, bad_header):
    session.initialize()
    bad_body = json.dumps(sleep_request("bad")).encode()
    session.send_raw(bad_header + bad_body + frame(sleep_request("good")))
    replies = {}
    while "good" not in replies:
        message = session.recv()
        replies[message.get("id")] = message
    assert replies["good"]["result"] == {"slept": 0}
    assert set(replies) <= {"good", "bad", None}  # the bad one: recovered, or a parse error


def test_a_60_mb_message_is_refused_without_being_buffered(session):
    session.initialize()
    rss_before = psutil.Process(session.proc.pid).memory_info().rss
    size = 60 * 1000 * 1000
    head = b'{"jsonrpc":"2.0","id":5,"method":"test/sleep","params":{"seconds":0,"pad":"'
    tail = b'"}}'
    session.send_raw(b"Content-Length: %d\r\n\r\n" % size + head)
    filler = b"a" * (1 << 20)
    remaining = size - len(head) - len(tail)
    while remaining:
        session.send_raw(filler[: min(remaining, len(filler))])
        remaining -= min(remaining, len(filler))
    session.send_raw(tail + frame(sleep_request(6)))
    refused = session.recv_response(5)
    assert refused["error"]["code"] == INVALID_REQUEST and "60000000 bytes" in refused["error"]["message"]
    assert session.recv_response(6)["result"] == {"slept": 0}
    assert psutil.Process(session.proc.pid).memory_info().rss - rss_before < 30 * 1000 * 1000


def test_shutdown_then_exit_ends_with_code_0(session):
    session.initialize()
    session.send(request(9, "shutdown"))
    assert session.recv_response(9)["result"] is None
    session.send(sleep_request(10))
    assert session.recv_response(10)["error"]["code"] == INVALID_REQUEST
    session.send(notification("exit"))
    assert session.wait(10) == 0


def test_exit_without_shutdown_ends_with_code_1(session):
    session.initialize()
    session.send(notification("exit"))
    assert session.wait(10) == 1


def test_closing_stdin_ends_the_process_even_with_a_request_in_flight(session):
    session.initialize()
    session.send(sleep_request(1, 60))
    session.close_stdin()
    assert session.wait(10) == 1
    assert b"sleep cancelled" in b"".join(session.stderr_lines)


def test_exit_is_prompt_even_with_a_busy_worker_thread(session):
    session.initialize()
    session.send(request(1, "test/busyThread", {"seconds": 60}))
    time.sleep(0.3)
    session.send(request(2, "shutdown"))
    assert session.recv_response(1)["error"]["code"] == CANCELLED
    assert session.recv_response(2)["result"] is None
    session.send(notification("exit"))
    started = time.monotonic()
    assert session.wait(10) == 0
    assert time.monotonic() - started < 5


def test_sigterm_exits_cleanly(session):
    session.initialize()
    session.send(sleep_request(1, 60))
    time.sleep(0.2)
    session.proc.send_signal(signal.SIGTERM)
    assert session.wait(10) == 0


def test_200_requests_all_cancelled_are_each_answered_exactly_once(session):
    session.initialize()
    ids = list(range(200))
    session.send_raw(b"".join(frame(sleep_request(i, 60)) for i in ids))
    session.send_raw(b"".join(frame(notification("$/cancelRequest", {"id": i})) for i in ids))
    session.send(request("bye", "shutdown"))
    answers = []
    while not answers or answers[-1].get("id") != "bye":
        answers += [message] if "method" not in (message := session.recv(timeout=20)) else []
    assert answers.pop()["result"] is None
    session.send(notification("exit"))
    assert session.wait(10) == 0
    answers += [m for m in drain(session) if "method" not in m]
    counts = Counter(m["id"] for m in answers)
    assert all(counts[i] == 1 for i in ids) and set(counts) == set(ids)
    assert {m["error"]["code"] for m in answers} == {CANCELLED}
    assert all("was cancelled" in m["error"]["message"] for m in answers)  # by $/cancelRequest


def test_stray_prints_in_handlers_do_not_corrupt_the_stream(session):
    session.initialize()
    session.send(sleep_request(1, 60))
    time.sleep(0.2)
    session.send(notification("$/cancelRequest", {"id": 1}))
    assert session.recv_response(1)["error"]["code"] == CANCELLED
    session.send(sleep_request(2))
    assert session.recv_response(2)["result"] == {"slept": 0}  # the strict reader saw clean frames
    time.sleep(0.1)
    assert b"stray print to stdout" in b"".join(session.stderr_lines)
