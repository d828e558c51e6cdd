"""JSON-RPC message rules on top of pygls: validation, LSP lifecycle, exactly-once answers.

`DistillProtocol` owns what happens to one decoded message body (framing lives in
`framing.py`, the connections in `transport.py`):

* malformed JSON -> ParseError (id null); a non-object -> InvalidRequest (id null);
* a request whose params fail validation -> InvalidParams for that id, a notification
  with bad params -> logged and dropped (pygls 2.1 leaves such requests unanswered);
* before ``initialize``: requests -> ServerNotInitialized, notifications (except
  ``exit``) dropped; after ``shutdown``: requests -> InvalidRequest;
* unknown requests -> MethodNotFound, unknown notifications (``$/`` ones too) dropped;
* every accepted request is answered exactly once: a result, an error, or
  RequestCancelled once its ``$/cancelRequest`` (or ``shutdown``) has been processed.
  Cancelling still cancels the handler's asyncio task, so ``async def`` handlers see
  ``CancelledError``; a late result of a cancelled request is dropped.
* ``exit`` ends the session through `on_exit` with code 0 after ``shutdown``, else 1;
* ``initialize`` passes the session's `admit` gate first (`access.token_gate`).

Mixed in: the exactly-once bookkeeping and the writing of answers (`answers.py`), handler
execution with every future tracked (`handler_runs.py`), and document sync into the
server's document store (`features/documents.StoreDocumentSync`).
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from typing import TYPE_CHECKING, Any, Callable

import attrs
import cattrs
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import JsonRPCRequestMessage, LanguageServerProtocol, _dict_to_object, lsp_method
from pygls.protocol.json_rpc import JsonRPCNotification

from .answers import ExactlyOnceAnswers, error_response, is_valid_id
from .features.documents import StoreDocumentSync
from .handler_runs import HandlerRuns

if TYPE_CHECKING:
    from collections.abc import Generator

    from pygls.protocol.json_rpc import MsgId

logger = logging.getLogger(__name__)

def describe_structure_error(exc: Exception) -> str:
    """A one-line account of why cattrs could not build a message, with JSON paths."""
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return f"{type(exc).__name__}: {exc}"


class DistillProtocol(ExactlyOnceAnswers, HandlerRuns, StoreDocumentSync, LanguageServerProtocol):
    """pygls' LanguageServerProtocol hardened against anything a client may send."""

    def __init__(self, server: Any, converter: cattrs.Converter):
        self.initialize_received = False
        self.shutdown_received = False
        self.exit_code: int | None = None
        self.on_exit: Callable[[int], None] | None = None
        self.admit: Callable[[dict[str, Any]], types.ResponseError | None] | None = None
        """Checks (and may edit) `initialize` before it is handled: an error refuses the
        client and ends the session (set where sessions are made: `server.create_server`)."""
        self._shutdown_id: MsgId | None = None
        super().__init__(server, converter)  # registers builtins: reads every attribute

    # ---- entry points -------------------------------------------------------------

    def handle_body(self, body: bytes) -> None:
        """Handle one framed message body: parse, validate, dispatch or answer an error."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            logger.warning("Malformed JSON message (%d bytes): %s", len(body), exc)
            self.send_error(None, JsonRpcParseError.CODE, f"Parse error: {exc}")
            return
        self.handle_message(data)

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Keep bodies as dicts: `handle_message` validates them (pygls' io_ loops call this)."""
        return data

    def handle_message(self, message: Any) -> None:
        """Dispatch a decoded message; dicts get the full validation and lifecycle rules."""
        if not isinstance(message, dict):
            if hasattr(message, "jsonrpc"):  # an already structured pygls message
                super().handle_message(message)
                return
            self.send_error(None, JsonRpcInvalidRequest.CODE, "Invalid request: expected a JSON object")
            return
        if message.get("jsonrpc") != "2.0":
            self._reject_envelope(message, 'Invalid request: "jsonrpc" must be "2.0"')
        elif "method" in message:
            self._dispatch_call(message)
        elif "id" in message and ("result" in message or "error" in message):
            self._dispatch_response(message)
        else:
            self._reject_envelope(message, "Invalid request: neither a request, notification nor response")

    def send_error(self, msg_id: MsgId | None, code: int, message: str) -> None:
        """Send an error outside the exactly-once bookkeeping (ids we never accepted)."""
        self._write_json(error_response(msg_id, code, message))

    # ---- classification -----------------------------------------------------------

    def _reject_envelope(self, data: dict[str, Any], message: str) -> None:
        """Answer an invalid request object; a bad notification or response is only logged."""
        is_response = "method" not in data and ("result" in data or "error" in data)
        if is_response or ("method" in data and "id" not in data):
            logger.warning("%s: %.200r", message, data)
            return
        msg_id = data.get("id")
        self.send_error(msg_id if is_valid_id(msg_id) else None, JsonRpcInvalidRequest.CODE, message)

    def _dispatch_call(self, data: dict[str, Any]) -> None:
        method = data["method"]
        has_id = "id" in data
        if not isinstance(method, str):
            self._reject_envelope(data, 'Invalid request: "method" must be a string')
        elif has_id and not is_valid_id(data["id"]):
            self.send_error(None, JsonRpcInvalidRequest.CODE, 'Invalid request: "id" must be an integer or a string')
        elif has_id:
            self._dispatch_request(data["id"], method, data)
        else:
            self._dispatch_notification(method, data)

    def _dispatch_response(self, data: dict[str, Any]) -> None:
        try:
            message = LanguageServerProtocol.structure_message(self, data)
        except Exception:
            logger.warning("Dropping malformed response: %.200r", data)
            return
        super().handle_message(message)

    # ---- requests -------------------------------------------------------------------

    def _request_refusal(self, msg_id: MsgId, method: str) -> tuple[int, str] | None:
        """The error a request gets before its params are even looked at, if any."""
        if self.shutdown_received:
            return JsonRpcInvalidRequest.CODE, f"Server is shutting down: {method!r} refused"
        if not self.initialize_received and method != types.INITIALIZE:
            return JsonRpcServerNotInitialized.CODE, f"Server not initialized: {method!r} sent before 'initialize'"
        if method == types.INITIALIZE and self.initialize_received:
            return JsonRpcInvalidRequest.CODE, "'initialize' may only be sent once"
        if not self._has_handler(method) or not self._is_request_method(method):
            return JsonRpcMethodNotFound.CODE, f"Method not found: {method!r}"
        if self._is_pending(msg_id):
            return JsonRpcInvalidRequest.CODE, f"Request id {msg_id!r} is already in use"
        return None

    def _dispatch_request(self, msg_id: MsgId, method: str, data: dict[str, Any]) -> None:
        refusal = self._request_refusal(msg_id, method)
        if refusal is not None:
            logger.warning("Refusing request %r (%s): %s", msg_id, method, refusal[1])
            self.send_error(msg_id, *refusal)
            return
        if method == types.INITIALIZE and not self._admitted(msg_id, data):
            return
        try:
            message = self._structure(method, data)
        except Exception as exc:
            detail = describe_structure_error(exc)
            logger.warning("Invalid params for request %r (%s): %s", msg_id, method, detail)
            self.send_error(msg_id, JsonRpcInvalidParams.CODE, f"Invalid params for {method!r}: {detail}")
            return
        self._note_lifecycle(msg_id, method)
        self._accept(msg_id)
        super().handle_message(message)

    def _admitted(self, msg_id: MsgId, data: dict[str, Any]) -> bool:
        """Pass `initialize` through `admit`; a refusal is answered and ends the session."""
        refusal = self.admit(data) if self.admit is not None else None
        if refusal is None:
            return True
        self.send_error(msg_id, refusal.code, refusal.message)
        self.exit_code = 1
        if self.on_exit is not None:
            self.on_exit(1)
        return False

    def _note_lifecycle(self, msg_id: MsgId, method: str) -> None:
        if method == types.INITIALIZE:
            self.initialize_received = True
        elif method == types.SHUTDOWN:
            self.shutdown_received = True
            self._shutdown_id = msg_id

    def _structure(self, method: str, data: dict[str, Any]) -> Any:
        """Build the typed message; methods lsprotocol does not know get generic params."""
        message_type = self.get_message_type(method)
        if message_type is not None:
            return self._converter.structure(data, message_type)
        params = _dict_to_object(data.get("params"))
        if "id" in data:
            return JsonRPCRequestMessage(id=data["id"], method=method, jsonrpc="2.0", params=params)
        return JsonRPCNotification(method=method, jsonrpc="2.0", params=params)

    def get_message_type(self, method: str) -> type[Any] | None:
        """lsprotocol's message type (pygls caches this with lru_cache on the method, which holds
        every session's protocol alive: a fix that belongs upstream in pygls)."""
        return _message_types(method)[0]

    def get_result_type(self, method: str) -> type[Any] | None:
        return _message_types(method)[1]

    def _has_handler(self, method: str) -> bool:
        if method == types.CANCEL_REQUEST:  # pygls handles it outside the feature manager
            return True
        return method in self.fm.builtin_features or method in self.fm.features

    def _is_request_method(self, method: str) -> bool:
        """False for LSP notification methods (e.g. didOpen) sent with an id."""
        message_type = self.get_message_type(method)
        return message_type is None or "id" in attrs.fields_dict(message_type)

    # ---- notifications --------------------------------------------------------------

    def _dispatch_notification(self, method: str, data: dict[str, Any]) -> None:
        if method != types.EXIT and not self._accepts_notifications(method):
            return
        if method != types.EXIT and not self._has_handler(method):
            log = logger.debug if method.startswith("$/") else logger.info
            log("Ignoring notification for unknown method %r", method)
            return
        try:
            message = self._structure(method, data)
        except Exception as exc:
            logger.warning("Ignoring notification %r with invalid params: %s", method, describe_structure_error(exc))
            return
        super().handle_message(message)

    def _accepts_notifications(self, method: str) -> bool:
        if self.shutdown_received:
            logger.info("Ignoring notification %r after 'shutdown'", method)
            return False
        if not self.initialize_received:
            logger.info("Ignoring notification %r before 'initialize'", method)
            return False
        return True

    # ---- lifecycle overrides --------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        """Always negotiate UTF-16 positions (the LSP default): every position conversion
        in the server counts UTF-16 code units."""
        if params.capabilities.general is not None:
            params.capabilities.general.position_encodings = None
        return (yield from super().lsp_initialize(params))

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        """Run the user's shutdown handler, then cancel every other request in flight."""
        if (user_handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            yield user_handler, args, None
        for msg_id in self.pending_request_ids - {self._shutdown_id}:
            self.cancel_request(msg_id, "Server is shutting down")
        self._shutdown = True

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> None:
        """Run the user's exit handler (whatever its outcome), then end the session."""
        code = 0 if self.shutdown_received else 1
        if (user_handler := self.fm.features.get(types.EXIT)) is None:
            self._end_session(code)
            return
        self._execute_handler(f"{uuid.uuid4()}", user_handler, lambda _f: self._end_session(code), args=args)

    def _end_session(self, code: int) -> None:
        logger.info("'exit' received; ending the session with code %d", code)
        self.exit_code = code
        if self.on_exit is None:
            raise SystemExit(code)
        self.on_exit(code)

    def session_exit_code(self) -> int:
        """Exit code for a session that ended: `exit`'s code, else 0 after shutdown, else 1."""
        if self.exit_code is not None:
            return self.exit_code
        return 0 if self.shutdown_received else 1

    def close_session(self) -> None:
        """The connection is gone: cancel every handler still running, answer nothing more."""
        self._forget_pending()
        for future in list(self._request_futures.values()):
            if not future.done():
                future.cancel()
        self._request_futures.clear()
        pool = getattr(self._server, "_thread_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

@functools.cache
def _message_types(method: str) -> tuple[type[Any] | None, type[Any] | None]:
    entry = types.METHOD_TO_TYPES.get(method, (None, None))
    return entry[0], entry[1]
