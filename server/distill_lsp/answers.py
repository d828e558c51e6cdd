"""Exactly one answer per accepted request, and the writing of every outgoing message.

A request id is pending from when `DistillProtocol` accepts it until it is answered: the
first answer (the handler's result or error, or RequestCancelled from `cancel_request`)
claims it, and every later one is dropped. Outgoing bodies are UTF-8 JSON (lone surrogates
fall back to ``\\u`` escapes), framed by `framing.encode_frame` and handed to the writer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import FeatureRequestError, JsonRpcException, JsonRpcInternalError, JsonRpcRequestCancelled

from .framing import encode_frame

if TYPE_CHECKING:
    from pygls.protocol.json_rpc import MsgId

logger = logging.getLogger(__name__)

_CANCELLED_ERRORS = (asyncio.CancelledError, concurrent.futures.CancelledError)


def is_valid_id(value: Any) -> bool:
    """LSP request ids are integers or strings (booleans are not integers here)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def error_response(msg_id: MsgId | None, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response as a plain dict."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": error}


class ExactlyOnceAnswers:
    """Mixed into `DistillProtocol` (a pygls JsonRPCProtocol: `_request_futures`, `writer`)."""

    _request_futures: dict[Any, Any]
    _server: Any
    _include_headers: bool
    writer: Any
    _serialize_message: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending: set[MsgId] = set()
        self._pending_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _accept(self, msg_id: MsgId) -> None:
        """`msg_id` is now owed exactly one answer."""
        with self._pending_lock:
            self._pending.add(msg_id)

    def _forget_pending(self) -> None:
        """The connection is gone: nothing more is owed."""
        with self._pending_lock:
            self._pending.clear()

    def _is_pending(self, msg_id: MsgId) -> bool:
        with self._pending_lock:
            return msg_id in self._pending

    def _claim(self, msg_id: MsgId) -> bool:
        """Take the right to answer `msg_id`; only the first caller gets it."""
        with self._pending_lock:
            if msg_id not in self._pending:
                return False
            self._pending.discard(msg_id)
            return True

    @property
    def pending_request_ids(self) -> frozenset[MsgId]:
        """Ids of accepted requests that have not been answered yet."""
        with self._pending_lock:
            return frozenset(self._pending)

    def _send_response(self, msg_id: MsgId, result: Any | None = None, error: types.ResponseError | None = None):
        """Answer an accepted request, unless it has been answered (or cancelled) already."""
        if not self._claim(msg_id):
            logger.debug("Dropping a second answer to request %r", msg_id)
            return
        if error is not None:
            payload = error_response(msg_id, error.code, error.message, error.data)
        else:
            payload = {"jsonrpc": "2.0", "id": msg_id, "result": result}
        try:
            body = self._encode(payload)
        except Exception as exc:
            logger.exception("Cannot serialise the answer to request %r", msg_id)
            body = self._encode(error_response(msg_id, JsonRpcInternalError.CODE, f"Cannot serialise result: {exc}"))
        self._write_body(body)

    def _send_handler_result(self, future: Any, *, msg_id: MsgId) -> None:
        """Turn a finished handler future into its one response."""
        if self._request_futures.get(msg_id) is future:
            self._request_futures.pop(msg_id, None)
        if not self._is_pending(msg_id):
            logger.debug("Request %r already answered; dropping its handler's outcome", msg_id)
            return
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or isinstance(exc, _CANCELLED_ERRORS):
            self._send_response(msg_id, error=_cancelled(msg_id))
        elif exc is None:
            self._send_response(msg_id, result=future.result())
        elif isinstance(exc, JsonRpcException):
            self._send_response(msg_id, error=exc.to_response_error())
        else:
            logger.error("Handler for request %r failed", msg_id, exc_info=exc)
            self._send_response(msg_id, error=types.ResponseError(JsonRpcInternalError.CODE, f"{type(exc).__name__}: {exc}"))
            self._server._report_server_error(exc, FeatureRequestError)

    def cancel_request(self, msg_id: MsgId, reason: str) -> bool:
        """Answer `msg_id` with RequestCancelled now and cancel its handler; False if already answered."""
        if not self._is_pending(msg_id):
            return False
        future = self._request_futures.get(msg_id)
        self._send_response(msg_id, error=types.ResponseError(JsonRpcRequestCancelled.CODE, reason))
        if future is not None and not future.done():
            future.cancel()
        logger.info("Cancelled request %r: %s", msg_id, reason)
        return True

    def _handle_cancel_notification(self, msg_id: MsgId) -> None:
        if not is_valid_id(msg_id):
            logger.warning("Ignoring $/cancelRequest with invalid id %.100r", msg_id)
            return
        if not self.cancel_request(msg_id, f"Request {msg_id!r} was cancelled"):
            logger.debug("Ignoring $/cancelRequest for %r: not in flight", msg_id)

    # ---- writing --------------------------------------------------------------------

    def _encode(self, data: Any) -> bytes:
        text = json.dumps(data, default=self._serialize_message, ensure_ascii=False, separators=(",", ":"))
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: fall back to \u escapes
            return json.dumps(data, default=self._serialize_message, separators=(",", ":")).encode("ascii")

    def _send_data(self, data: Any) -> None:
        """Serialise and send a notification or request (responses go via `_send_response`)."""
        if not data:
            return
        try:
            body = self._encode(data)
        except Exception:
            logger.exception("Cannot serialise outgoing message %.200r", data)
            return
        self._write_body(body)

    def _write_json(self, data: dict[str, Any]) -> None:
        self._write_body(self._encode(data))

    def _write_body(self, body: bytes) -> None:
        if self.writer is None:
            logger.error("No transport: dropping outgoing message %.200r", body)
            return
        logger.debug("Sending %.500s", body)
        try:
            res = self.writer.write(encode_frame(body) if self._include_headers else body)
            if inspect.isawaitable(res):
                asyncio.ensure_future(res)
        except (BrokenPipeError, ConnectionError, ValueError, OSError) as exc:
            logger.warning("Cannot write to the client (%s); dropping message", exc)

def _cancelled(msg_id: MsgId) -> types.ResponseError:
    return types.ResponseError(JsonRpcRequestCancelled.CODE, f"Request {msg_id!r} was cancelled")
