"""DistillProtocol: validation, lifecycle and exactly-once answers, driven in-process."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified

from tests.fixtures.lsp_wire import initialize, make_server, notification, request

PARSE, INVALID_REQUEST, NOT_FOUND, INVALID_PARAMS, INTERNAL = -32700, -32600, -32601, -32602, -32603
NOT_INITIALIZED, CANCELLED = -32002, -32800


def send(protocol: Any, message: Any) -> None:
    protocol.handle_body(message if isinstance(message, bytes) else json.dumps(message).encode())


def answers(writer: Any, msg_id: Any) -> list[dict[str, Any]]:
    return [m for m in writer.messages() if "method" not in m and m.get("id") == msg_id]


def only_answer(writer: Any, msg_id: Any) -> dict[str, Any]:
    found = answers(writer, msg_id)
    assert len(found) == 1, found
    return found[0]


def error_code(writer: Any, msg_id: Any) -> int:
    return only_answer(writer, msg_id)["error"]["code"]


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


# ---- malformed input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe\x00garbage", b"[" * 100_000 + b"]" * 100_000, b'{"jsonrpc":"2.0","id":1'],
)
def test_unparseable_body_gets_parse_error_with_null_id(body):
    _, protocol, writer = make_server()
    send(protocol, body)
    (message,) = writer.messages()
    assert message["id"] is None and message["error"]["code"] == PARSE


@pytest.mark.parametrize("body", [[request(1, "initialize")], 42, "initialize", None])
def test_non_object_json_is_an_invalid_request(body):
    _, protocol, writer = make_server()
    send(protocol, body)
    assert error_code(writer, None) == INVALID_REQUEST


@pytest.mark.parametrize(
    ("message", "answered_id"),
    [
        ({"id": 3, "method": "initialize", "params": {}}, 3),
        ({"jsonrpc": "1.0", "id": 3, "method": "initialize"}, 3),
        ({"jsonrpc": "2.0", "id": True, "method": "initialize"}, None),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "initialize"}, None),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "initialize"}, None),
        ({"jsonrpc": "2.0", "id": 4, "method": 17}, 4),
        ({"jsonrpc": "2.0", "foo": 1}, None),
    ],
)
def test_invalid_request_objects_are_answered(message, answered_id):
    _, protocol, writer = make_server()
    send(protocol, message)
    assert error_code(writer, answered_id) == INVALID_REQUEST


def test_bad_notification_envelope_is_only_logged():
    _, protocol, writer = make_server()
    send(protocol, {"jsonrpc": "1.0", "method": "exit"})
    send(protocol, {"jsonrpc": "2.0", "id": 99, "result": None})  # response to nothing
    assert writer.messages() == [] and protocol.exits == []


# ---- lifecycle ------------------------------------------------------------------------


def test_requests_before_initialize_get_server_not_initialized():
    _, protocol, writer = make_server()
    send(protocol, request(1, types.SHUTDOWN))
    send(protocol, request(2, "textDocument/hover", {"textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": 0}}))
    assert error_code(writer, 1) == NOT_INITIALIZED and error_code(writer, 2) == NOT_INITIALIZED
    assert "before 'initialize'" in only_answer(writer, 2)["error"]["message"]


def _record_opens(server) -> list[str]:  # type: ignore[no-untyped-def]
    """The URIs the server's didOpen handler saw (it keeps no documents of its own)."""
    opened: list[str] = []

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params):  # type: ignore[no-untyped-def]
        opened.append(params.text_document.uri)

    return opened


DID_OPEN = {"textDocument": {"uri": "file:///a", "languageId": "python", "version": 1, "text": "x"}}


def test_notifications_before_initialize_are_ignored():
    server, protocol, writer = make_server()
    opened = _record_opens(server)
    send(protocol, notification(types.TEXT_DOCUMENT_DID_OPEN, DID_OPEN))
    initialize(protocol)
    assert opened == []
    assert [m["id"] for m in writer.messages()] == ["init"]
    send(protocol, notification(types.TEXT_DOCUMENT_DID_OPEN, DID_OPEN))  # the same, once initialized
    assert opened == ["file:///a"]


def test_initialize_with_invalid_params_can_be_retried():
    _, protocol, writer = make_server()
    send(protocol, request(1, types.INITIALIZE, {"processId": None}))
    assert error_code(writer, 1) == INVALID_PARAMS
    initialize(protocol)
    assert "result" in only_answer(writer, "init")


def test_second_initialize_is_refused():
    _, protocol, writer = make_server()
    initialize(protocol)
    send(protocol, request(2, types.INITIALIZE, {"capabilities": {}}))
    assert error_code(writer, 2) == INVALID_REQUEST


def test_after_shutdown_requests_are_invalid_and_exit_code_is_zero():
    server, protocol, writer = make_server()
    opened = _record_opens(server)
    initialize(protocol)
    send(protocol, request(1, types.SHUTDOWN))
    assert only_answer(writer, 1) == {"jsonrpc": "2.0", "id": 1, "result": None}
    send(protocol, request(2, types.SHUTDOWN))
    send(protocol, request(3, "nope/unknown"))
    send(protocol, notification(types.TEXT_DOCUMENT_DID_OPEN, DID_OPEN))
    assert error_code(writer, 2) == INVALID_REQUEST and error_code(writer, 3) == INVALID_REQUEST
    assert opened == []
    send(protocol, notification(types.EXIT))
    assert protocol.exits == [0] and protocol.session_exit_code() == 0


@pytest.mark.parametrize("initialized", [True, False])
def test_exit_without_shutdown_has_code_one(initialized):
    _, protocol, writer = make_server()
    if initialized:
        initialize(protocol)
    send(protocol, notification(types.EXIT))
    assert protocol.exits == [1]


def test_exit_still_ends_the_session_when_the_user_exit_handler_fails():
    server, protocol, _ = make_server()

    @server.feature(types.EXIT)
    def on_exit(ls, params):
        raise RuntimeError("boom")

    initialize(protocol)
    send(protocol, notification(types.EXIT))
    assert protocol.exits == [1]


# ---- methods and params ---------------------------------------------------------------


def test_unknown_requests_get_method_not_found_and_unknown_notifications_nothing():
    _, protocol, writer = make_server()
    initialize(protocol)
    send(protocol, request(1, "distill/unknown"))
    send(protocol, request(2, "$/unknownRequest"))
    send(protocol, request(3, types.TEXT_DOCUMENT_DID_OPEN, {}))  # a notification method with an id
    send(protocol, notification("distill/unknown", {}))
    send(protocol, notification("$/unknown", {}))
    assert [error_code(writer, i) for i in (1, 2, 3)] == [NOT_FOUND] * 3
    assert len(writer.messages()) == 4  # initialize + 3 errors


def test_invalid_request_params_get_invalid_params_with_the_path():
    server, protocol, writer = make_server()

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION)
    def inline(ls, params):
        return None

    initialize(protocol)
    send(protocol, request(7, types.TEXT_DOCUMENT_INLINE_COMPLETION, {"textDocument": {"uri": "file:///a"}, "position": {"line": "x", "character": 0}}))
    send(protocol, request(8, types.TEXT_DOCUMENT_INLINE_COMPLETION))
    error = only_answer(writer, 7)["error"]
    assert error["code"] == INVALID_PARAMS
    assert "$.params.position.line" in error["message"] and "textDocument/inlineCompletion" in error["message"]
    assert error_code(writer, 8) == INVALID_PARAMS


def test_invalid_notification_params_are_logged_and_ignored(caplog):
    server, protocol, writer = make_server()
    initialize(protocol)
    send(protocol, notification(types.TEXT_DOCUMENT_DID_OPEN, {"textDocument": {"uri": "file:///a"}}))
    send(protocol, notification(types.CANCEL_REQUEST, {"id": [1]}))
    assert len(writer.messages()) == 1
    assert "invalid params" in caplog.text and "invalid id" in caplog.text
    send(protocol, request(2, types.SHUTDOWN))
    assert "result" in only_answer(writer, 2)


def test_custom_request_without_params_reaches_its_handler():
    server, protocol, writer = make_server()

    @server.feature("distill/ping")
    def ping(ls, params):
        return {"params": params}

    initialize(protocol)
    send(protocol, request(1, "distill/ping"))
    send(protocol, request(2, "distill/ping", {"a": 1}))
    assert only_answer(writer, 1)["result"] == {"params": None}
    assert only_answer(writer, 2)["result"] == {"params": [1]}  # pygls gives params as a namedtuple


# ---- exactly-once answers -------------------------------------------------------------


def add_sleeper(server: Any, log: list[str], *, swallow_cancel: bool = False) -> None:
    @server.feature("test/sleep")
    async def sleep(ls, params):
        try:
            await asyncio.sleep(params.seconds)
        except asyncio.CancelledError:
            log.append("cancelled")
            if not swallow_cancel:
                raise
            return "late result"
        return "slept"


async def test_cancel_answers_request_cancelled_once_and_cancels_the_task():
    server, protocol, writer = make_server()
    log: list[str] = []
    add_sleeper(server, log)
    initialize(protocol)
    send(protocol, request(1, "test/sleep", {"seconds": 30}))
    await settle()
    send(protocol, notification(types.CANCEL_REQUEST, {"id": 1}))
    send(protocol, notification(types.CANCEL_REQUEST, {"id": 1}))
    await settle()
    assert error_code(writer, 1) == CANCELLED
    assert log == ["cancelled"] and protocol.pending_request_ids == frozenset()


async def test_a_handler_that_swallows_cancellation_does_not_get_a_second_answer():
    server, protocol, writer = make_server()
    log: list[str] = []
    add_sleeper(server, log, swallow_cancel=True)
    initialize(protocol)
    send(protocol, request("a", "test/sleep", {"seconds": 30}))
    await settle()
    send(protocol, notification(types.CANCEL_REQUEST, {"id": "a"}))
    await settle()
    assert log == ["cancelled"]
    assert error_code(writer, "a") == CANCELLED


async def test_cancel_after_the_result_was_sent_changes_nothing():
    server, protocol, writer = make_server()
    add_sleeper(server, [])
    initialize(protocol)
    send(protocol, request(1, "test/sleep", {"seconds": 0}))
    await settle()
    send(protocol, notification(types.CANCEL_REQUEST, {"id": 1}))
    send(protocol, notification(types.CANCEL_REQUEST, {"id": 12345}))
    await settle()
    assert only_answer(writer, 1)["result"] == "slept"


async def test_a_running_thread_handler_is_answered_cancelled_at_once_and_its_result_dropped():
    server, protocol, writer = make_server()
    release, started = threading.Event(), threading.Event()

    @server.feature("test/block")
    @server.thread()
    def block(ls, params):
        started.set()
        release.wait(10)
        return "finished"

    initialize(protocol)
    send(protocol, request(1, "test/block"))
    assert await asyncio.to_thread(started.wait, 5)
    send(protocol, notification(types.CANCEL_REQUEST, {"id": 1}))
    assert error_code(writer, 1) == CANCELLED
    release.set()
    await asyncio.to_thread(server.thread_pool.shutdown)
    assert len(answers(writer, 1)) == 1


async def test_shutdown_cancels_requests_in_flight_and_is_answered_itself():
    server, protocol, writer = make_server()
    log: list[str] = []
    add_sleeper(server, log)
    initialize(protocol)
    for i in range(3):
        send(protocol, request(i, "test/sleep", {"seconds": 30}))
    await settle()
    send(protocol, request("bye", types.SHUTDOWN))
    await settle()
    assert [error_code(writer, i) for i in range(3)] == [CANCELLED] * 3
    assert only_answer(writer, "bye")["result"] is None
    assert log == ["cancelled"] * 3


async def test_cancelling_an_execute_command_cancels_the_async_command():
    server, protocol, writer = make_server()
    log: list[str] = []

    @server.command("distill.slow")
    async def slow(ls, *args):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            log.append("command cancelled")
            raise

    initialize(protocol)
    send(protocol, request(1, types.WORKSPACE_EXECUTE_COMMAND, {"command": "distill.slow", "arguments": []}))
    await settle()
    send(protocol, notification(types.CANCEL_REQUEST, {"id": 1}))
    await settle()
    assert error_code(writer, 1) == CANCELLED and log == ["command cancelled"]


async def test_handler_errors_are_answered_once_with_their_code():
    server, protocol, writer = make_server()

    @server.feature("test/crash")
    async def crash(ls, params):
        raise ValueError("model exploded")

    @server.feature("test/modified")
    def modified(ls, params):
        raise JsonRpcContentModified("document changed")

    @server.feature("test/unserialisable")
    def unserialisable(ls, params):
        return object()

    initialize(protocol)
    for i, method in enumerate(["test/crash", "test/modified", "test/unserialisable"]):
        send(protocol, request(i, method))
    await settle()
    assert only_answer(writer, 0)["error"] == {"code": INTERNAL, "message": "ValueError: model exploded"}
    assert error_code(writer, 1) == JsonRpcContentModified.CODE
    assert error_code(writer, 2) == INTERNAL


async def test_a_duplicate_id_in_flight_is_refused_without_disturbing_the_first():
    server, protocol, writer = make_server()
    add_sleeper(server, [])
    initialize(protocol)
    send(protocol, request(1, "test/sleep", {"seconds": 0.05}))
    send(protocol, request(1, "test/sleep", {"seconds": 0}))
    await settle(0.2)
    found = answers(writer, 1)
    assert [m.get("error", {}).get("code") for m in found] == [INVALID_REQUEST, None]
    assert found[1]["result"] == "slept"


async def test_finished_handlers_do_not_accumulate():
    server, protocol, writer = make_server()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def opened(ls, params):
        await asyncio.sleep(0)

    add_sleeper(server, [])
    initialize(protocol)
    for i in range(20):
        send(protocol, notification(types.TEXT_DOCUMENT_DID_OPEN, {"textDocument": {"uri": f"file:///{i}", "languageId": "python", "version": 1, "text": ""}}))
        send(protocol, request(i, "test/sleep", {"seconds": 0}))
    await settle()
    assert protocol._request_futures == {} and protocol.pending_request_ids == frozenset()


async def test_client_responses_reach_the_server_request_future():
    server, protocol, writer = make_server()
    initialize(protocol)
    future = protocol.send_request("workspace/configuration", types.ConfigurationParams(items=[]), msg_id="srv-1")
    send(protocol, {"jsonrpc": "2.0", "id": "srv-1", "result": [{"a": 1}]})
    assert list(future.result(timeout=1)) == [{"a": 1}]


def test_results_are_framed_with_utf8_byte_lengths():
    server, protocol, writer = make_server()

    @server.feature("test/emoji")
    def emoji(ls, params):
        return "é😀\u2028"

    initialize(protocol)
    send(protocol, request(1, "test/emoji"))
    assert only_answer(writer, 1)["result"] == "é😀\u2028"  # parse_frames checks byte lengths


def test_a_lone_surrogate_in_a_result_is_still_sent():
    server, protocol, writer = make_server()

    @server.feature("test/surrogate")
    def surrogate(ls, params):
        return "a\ud800b"

    initialize(protocol)
    send(protocol, request(1, "test/surrogate"))
    assert only_answer(writer, 1)["result"] == "a\ud800b"
