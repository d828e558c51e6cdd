"""JSON-RPC message rules on top of pygls: validation, LSP lifecycle, exactly-once answers.

`DistillProtocol` owns what happens to one decoded message body (framing lives in
`transport.py`):

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
* ``exit`` ends the session through `on_exit` with code 0 after ``shutdown``, else 1.
* document sync (didOpen / didChange / didClose) only runs the server's handlers: the
  server keeps documents itself (`document_store.py`), pygls' workspace holds none.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hmac
import inspect
import json
import logging
import threading
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

import attrs
import cattrs
from lsprotocol import types
from pygls.exceptions import (
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcRequestCancelled,
    JsonRpcServerNotInitialized,
)
from pygls.feature_manager import is_thread_function
from pygls.protocol import JsonRPCRequestMessage, LanguageServerProtocol, _dict_to_object, lsp_method
from pygls.protocol.json_rpc import JsonRPCNotification

if TYPE_CHECKING:
    from collections.abc import Generator

    from pygls.protocol.json_rpc import MsgId

logger = logging.getLogger(__name__)

_CANCELLED_ERRORS = (asyncio.CancelledError, concurrent.futures.CancelledError)


def encode_frame(body: bytes) -> bytes:
    """Prefix a UTF-8 JSON body with its LSP header (Content-Length counts bytes)."""
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


ACCESS_DENIED = -32001
"""JSON-RPC error code of an `initialize` refused for its access token (server error range)."""


def pop_access_token(data: dict[str, Any]) -> Any:
    """Remove and return initializationOptions.token (or .distill.token) from an `initialize` message."""
    params = data.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    if not isinstance(options, dict):
        return None
    token = options.pop("token", None)
    section = options.get("distill")
    if isinstance(section, dict) and "token" in section:
        nested = section.pop("token")
        token = nested if token is None else token
    return token


def is_valid_id(value: Any) -> bool:
    """LSP request ids are integers or strings (booleans are not integers here)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def error_response(msg_id: MsgId | None, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response as a plain dict."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": error}


def describe_structure_error(exc: Exception) -> str:
    """A one-line account of why cattrs could not build a message, with JSON paths."""
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return f"{type(exc).__name__}: {exc}"


class DistillProtocol(LanguageServerProtocol):
    """pygls' LanguageServerProtocol hardened against anything a client may send."""

    def __init__(self, server: Any, converter: cattrs.Converter):
        self.initialize_received = False
        self.shutdown_received = False
        self.exit_code: int | None = None
        self.on_exit: Callable[[int], None] | None = None
        self._shutdown_id: MsgId | None = None
        self._pending: set[MsgId] = set()
        self._pending_lock = threading.Lock()
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
        if method == types.INITIALIZE and not self._admit(msg_id, data):
            return
        try:
            message = self._structure(method, data)
        except Exception as exc:
            detail = describe_structure_error(exc)
            logger.warning("Invalid params for request %r (%s): %s", msg_id, method, detail)
            self.send_error(msg_id, JsonRpcInvalidParams.CODE, f"Invalid params for {method!r}: {detail}")
            return
        self._note_lifecycle(msg_id, method)
        with self._pending_lock:
            self._pending.add(msg_id)
        super().handle_message(message)

    def _admit(self, msg_id: MsgId, data: dict[str, Any]) -> bool:
        """Check `initialize`'s access token (initializationOptions.token) where the server
        demands one; a missing or wrong token is answered with an error and the connection
        closed. The token is taken out of the options either way (it is not a setting)."""
        given = pop_access_token(data)
        expected = getattr(self._server, "access_token", None)
        if not expected:
            return True
        if isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode()):
            return True
        why = "no access token" if given is None else "a wrong access token"
        logger.warning("Refusing a client with %s; closing the connection", why)
        self.send_error(msg_id, ACCESS_DENIED, f"distill-lsp: access denied: {why}. This server requires the "
                        "token from its --token-file, sent as initializationOptions.token")
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

    # ---- exactly-once answers -------------------------------------------------------

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

    # ---- handler execution (pygls' logic, plus bookkeeping of every future) -------------

    def _execute_handler(
        self,
        msg_id: MsgId,
        handler: Callable[..., Any],
        callback: Callable[[Any], None],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Run a handler; track its future under `msg_id` until it is done."""
        args, kwargs = args or (), kwargs or {}
        if asyncio.iscoroutinefunction(handler):
            future: Any = asyncio.ensure_future(handler(*args, **kwargs))
        elif is_thread_function(handler):
            future = self._server.thread_pool.submit(handler, *args, **kwargs)
        else:
            future = concurrent.futures.Future()
            self._track(msg_id, future, callback)
            self._run_inline(future, handler, args, kwargs)
            return
        self._track(msg_id, future, callback)

    def _run_inline(
        self, future: concurrent.futures.Future, handler: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            if inspect.isgeneratorfunction(handler):
                self._run_generator(None, gen=handler(*args, **kwargs), result_future=future)
            else:
                future.set_result(handler(*args, **kwargs))
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)

    def _track(self, msg_id: MsgId, future: Any, callback: Callable[[Any], None]) -> None:
        self._request_futures[msg_id] = future

        def forget(done: Any) -> None:
            if self._request_futures.get(msg_id) is done:
                self._request_futures.pop(msg_id, None)

        future.add_done_callback(forget)
        future.add_done_callback(callback)

    def _run_generator(
        self, future: Any, *, gen: Generator[Any, Any, Any], result_future: concurrent.futures.Future
    ) -> None:
        """Step a generator handler; cancelling it also cancels the sub-handler it waits on."""
        if result_future.done():
            gen.close()
            return
        try:
            value = future.result() if future is not None else None
            handler, args, kwargs = gen.send(value)
            child_id = f"{uuid.uuid4()}"
            step = partial(self._run_generator, gen=gen, result_future=result_future)
            self._execute_handler(child_id, handler, step, args=args, kwargs=kwargs)
            child = self._request_futures.get(child_id)
            if child is not None:
                result_future.add_done_callback(lambda f: child.cancel() if f.cancelled() else None)
        except StopIteration as stop:
            _settle(result_future, result=stop.value)
        except (Exception, asyncio.CancelledError) as exc:
            _settle(result_future, exc=exc)

    # ---- lifecycle overrides --------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        """Always negotiate UTF-16 positions (the LSP default): every position conversion
        in the server counts UTF-16 code units."""
        if params.capabilities.general is not None:
            params.capabilities.general.position_encodings = None
        return (yield from super().lsp_initialize(params))

    # Documents live in the server's DocumentStore (features/documents.py), not in pygls'
    # workspace: pygls keys its copy by the unquoted URI, splits lines at \f and \u2028 as
    # editors do not, raises KeyError for a change to an unopened document and applies a
    # stale version (fixes that belong upstream, in pygls.workspace). So these three only
    # run the server's handler.

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

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
            self._finish(code)
            return
        self._execute_handler(f"{uuid.uuid4()}", user_handler, lambda _f: self._finish(code), args=args)

    def _finish(self, code: int) -> None:
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
        with self._pending_lock:
            self._pending.clear()
        for future in list(self._request_futures.values()):
            if not future.done():
                future.cancel()
        self._request_futures.clear()
        pool = getattr(self._server, "_thread_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

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


@functools.cache
def _message_types(method: str) -> tuple[type[Any] | None, type[Any] | None]:
    entry = types.METHOD_TO_TYPES.get(method, (None, None))
    return entry[0], entry[1]


def _cancelled(msg_id: MsgId) -> types.ResponseError:
    return types.ResponseError(JsonRpcRequestCancelled.CODE, f"Request {msg_id!r} was cancelled")


def _settle(future: concurrent.futures.Future, *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(result)
    else:
        future.set_exception(exc)
