"""LSP base-protocol framing and the stdio / TCP connections that carry it.

Owns bytes, not meaning: `FrameDecoder` turns a byte stream into message bodies or
framing errors (header case and extra headers tolerated, resynchronisation on the
next ``Content-Length:`` after a bad or lying header, oversized messages skipped
without buffering them, truncation at EOF). `serve_connection` pumps one connection
into a `DistillProtocol`; `start_stdio` and `start_tcp` are the process entry points.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import queue
import re
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidRequest, JsonRpcParseError

from distill_lsp.protocol import DistillProtocol

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
READ_CHUNK_BYTES = 64 * 1024
_HEAD_KEEP_BYTES = 4096
_SCAN_CARRY = 96

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE_BREAK = re.compile(rb"\r?\n")
_LEADING_NEWLINES = re.compile(rb"[\r\n]*")
_HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*")
_CL_TOKEN = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
# A complete Content-Length line cannot occur inside valid JSON (raw newlines are not
# allowed in JSON strings), so one inside a body means the body's length was wrong.
_EMBEDDED_HEADER = re.compile(rb"content-length[ \t]{0,8}:[ \t]{0,8}\d{1,20}[ \t]{0,8}\r?\n", re.IGNORECASE)


def _prefix_pattern(parts: list[bytes]) -> bytes:
    """Regex matching any non-empty prefix of the concatenation of `parts`."""
    return parts[0] + (b"(?:" + _prefix_pattern(parts[1:]) + b")?" if len(parts) > 1 else b"")


# A body that overshot by less than a header line ends with "}" plus the start of the
# next "Content-Length: N\r" (a JSON object cannot end that way).
_HEADER_START_AT_END = re.compile(
    rb"\}[ \t\r\n]*(" + _prefix_pattern([bytes([c]) for c in b"content-length"] + [rb"[ \t]*", rb":[ \t]*\d*", rb"\r"]) + rb")\Z",
    re.IGNORECASE,
)
_SNIFF_HEAD_ID = re.compile(rb'"id"\s*:\s*(-?\d{1,20}|"(?:[^"\\]|\\.){0,200}")')
_SNIFF_TAIL_ID = re.compile(rb'"id"\s*:\s*(-?\d{1,20}|"(?:[^"\\]|\\.){0,200}")\s*}\s*$')


class FramingErrorKind(Enum):
    """What went wrong in the byte stream."""

    GARBAGE = "garbage"  # bytes outside any frame, skipped
    BAD_HEADER = "bad-header"  # a header block without a usable Content-Length
    OVERSIZED = "oversized"  # a message over the size limit, skipped unread
    TRUNCATED = "truncated"  # the stream ended inside a message


@dataclass(frozen=True)
class Frame:
    """One complete message body."""

    body: bytes


@dataclass(frozen=True)
class FramingError:
    """A framing problem; `request_id` is the id sniffed from a skipped oversized request."""

    kind: FramingErrorKind
    detail: str
    request_id: int | str | None = None


DecodedEvent = Frame | FramingError


@dataclass
class _Body:
    """The message body being read: buffered whole, or only its head when oversized."""

    length: int
    keep: bool
    received: int = 0
    data: bytearray = field(default_factory=bytearray)
    tail: bytes = b""  # the last bytes received, to find a header split across reads


class FrameDecoder:
    """Incremental, pure decoder of the LSP base protocol: feed bytes, get events."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self.max_message_bytes = max_message_bytes
        self._buf = bytearray()
        self._body: _Body | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes held right now (bounded by the message limit, not by the stream)."""
        body = 0 if self._body is None else len(self._body.data)
        return len(self._buf) + body

    def feed(self, data: bytes) -> list[DecodedEvent]:
        """Consume `data`; return the bodies and errors it completed, in stream order."""
        events: list[DecodedEvent] = []
        view = memoryview(data)
        while len(view):
            if self._body is not None:
                view = self._consume_body(view, events)
            else:
                self._buf += view[:MAX_HEADER_BYTES]
                view = view[MAX_HEADER_BYTES:]
                self._drain_headers(events)
        return events

    def feed_eof(self) -> list[DecodedEvent]:
        """The stream ended: report a message cut short, then reset."""
        events: list[DecodedEvent] = []
        if self._body is not None:
            detail = f"stream ended after {self._body.received} of {self._body.length} body bytes"
            events.append(FramingError(FramingErrorKind.TRUNCATED, detail))
        elif self._buf.strip():
            events.append(FramingError(FramingErrorKind.TRUNCATED, f"stream ended inside a header ({len(self._buf)} bytes)"))
        self._buf.clear()
        self._body = None
        return events

    # ---- headers --------------------------------------------------------------------

    def _drain_headers(self, events: list[DecodedEvent]) -> None:
        """Parse every header block in `_buf`, handing the bytes after one to its body."""
        while self._body is None and self._parse_header(events):
            if self._body is not None and self._buf:
                take = min(len(self._buf), self._body.length)
                chunk = bytes(self._buf[:take])
                del self._buf[:take]  # cheap: bytearray drops its head in place
                leftover = self._consume_body(memoryview(chunk), events)
                self._buf[:0] = leftover  # only after a wrong length: bytes to re-read

    def _parse_header(self, events: list[DecodedEvent]) -> bool:
        """Try to take one header block off `_buf`; True if progress was made."""
        del self._buf[: _LEADING_NEWLINES.match(self._buf).end()]  # type: ignore[union-attr]
        end = _HEADER_END.search(self._buf)
        if end is None:
            return self._drop_overlong_header(events)
        block = bytes(self._buf[: end.start()])
        length, problem = _content_length(block)
        if problem is None and length is not None:
            del self._buf[: end.end()]
            self._start_body(length, events)
            return True
        self._resync(block, end.end(), problem or "no Content-Length header", events)
        return True

    def _resync(self, block: bytes, block_end: int, problem: str, events: list[DecodedEvent]) -> None:
        """Drop a bad header block, or the garbage glued before a Content-Length token."""
        first_line = _LINE_BREAK.split(block, 1)[0]
        token = _CL_TOKEN.search(block, 1)
        glued = token is not None and block[token.start() - 1 : token.start()] != b"\n"
        if _HEADER_LINE.fullmatch(first_line) is not None and not glued:
            kind, cut = FramingErrorKind.BAD_HEADER, block_end
        else:
            kind, cut = FramingErrorKind.GARBAGE, token.start() if token is not None else block_end
        detail = f"{problem}; skipped {cut} bytes: {bytes(self._buf[: min(cut, 60)])!r}"
        events.append(FramingError(kind, detail))
        del self._buf[:cut]

    def _drop_overlong_header(self, events: list[DecodedEvent]) -> bool:
        if len(self._buf) <= MAX_HEADER_BYTES:
            return False
        token = _CL_TOKEN.search(self._buf, 1)
        cut = token.start() if token is not None else len(self._buf) - 32
        events.append(FramingError(FramingErrorKind.GARBAGE, f"no header end within {MAX_HEADER_BYTES} bytes; skipped {cut}"))
        del self._buf[:cut]
        return True

    def _start_body(self, length: int, events: list[DecodedEvent]) -> None:
        keep = length <= self.max_message_bytes
        if not keep:
            logger.warning("Refusing a %d-byte message (limit %d); skipping it", length, self.max_message_bytes)
        self._body = _Body(length=length, keep=keep)
        if length == 0:
            self._finish_body(events)

    # ---- bodies ---------------------------------------------------------------------

    def _consume_body(self, view: memoryview, events: list[DecodedEvent]) -> memoryview:
        """Take body bytes from `view`; return what is left after the body (if it ended)."""
        body = self._body
        assert body is not None
        chunk = view[: body.length - body.received]
        after = view[len(chunk) :]
        embedded = self._find_embedded_header(body, chunk)
        if embedded is not None:
            cut, rest = embedded
            self._cut_body(body, chunk, cut, events)
            return memoryview(rest + bytes(after))
        self._store(body, chunk)
        if body.received == body.length:
            self._finish_body(events)
        return after

    @staticmethod
    def _find_embedded_header(body: _Body, chunk: memoryview) -> tuple[int, bytes] | None:
        """(body offset, stream bytes from there) of a next message's header inside the body."""
        window = body.tail + bytes(chunk)
        if b"\n" not in window:
            return None
        match = _EMBEDDED_HEADER.search(window)
        if match is None:
            return None
        return body.received - len(body.tail) + match.start(), window[match.start() :]

    @staticmethod
    def _store(body: _Body, chunk: memoryview) -> None:
        room = len(chunk) if body.keep else max(0, _HEAD_KEEP_BYTES - len(body.data))
        body.data += chunk[:room]
        body.received += len(chunk)
        body.tail = (body.tail + bytes(chunk[-_SCAN_CARRY:]))[-_SCAN_CARRY:]

    def _cut_body(self, body: _Body, chunk: memoryview, cut: int, events: list[DecodedEvent]) -> None:
        """The declared length was too long: the body ends at offset `cut`."""
        self._store(body, chunk[: max(0, cut - body.received)])
        self._body = None
        if cut <= len(body.data):
            logger.warning("Content-Length %d was wrong: the message ended after %d bytes", body.length, cut)
            events.append(Frame(bytes(body.data[:cut])))
        else:
            detail = f"Content-Length {body.length} overran into the next message after {cut} bytes"
            events.append(FramingError(FramingErrorKind.BAD_HEADER, detail, sniff_request_id(bytes(body.data), b"")))

    def _trim_header_start(self, data: bytearray) -> bytes:
        """Give back the start of a next header that a too-long Content-Length swallowed."""
        window = bytes(data[-64:])
        match = _HEADER_START_AT_END.search(window) if not window.endswith(b"}") else None
        if match is None:
            return bytes(data)
        swallowed = len(window) - match.start(1)
        logger.warning("Content-Length was %d bytes too long; re-reading them as a header", swallowed)
        self._buf[:0] = data[-swallowed:]
        return bytes(data[:-swallowed])

    def _finish_body(self, events: list[DecodedEvent]) -> None:
        body = self._body
        assert body is not None
        self._body = None
        if body.keep:
            events.append(Frame(self._trim_header_start(body.data)))
            return
        detail = f"message of {body.length} bytes exceeds the {self.max_message_bytes}-byte limit"
        events.append(FramingError(FramingErrorKind.OVERSIZED, detail, sniff_request_id(bytes(body.data), body.tail)))


def _content_length(block: bytes) -> tuple[int | None, str | None]:
    """Parse a header block: (Content-Length, None) or (None, what is wrong)."""
    lines = _LINE_BREAK.split(block)
    first = _HEADER_LINE.fullmatch(lines[0])
    if first is None:
        return None, "malformed header line"
    lengths = set()
    for line in lines:
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            logger.debug("Ignoring malformed header line %r", line)
        elif match.group(1).lower() == b"content-length":
            lengths.add(match.group(2))
    if len(lengths) != 1:
        return None, "no Content-Length header" if not lengths else "conflicting Content-Length headers"
    value = lengths.pop()
    if not value.isdigit():
        return None, f"non-numeric Content-Length {value[:40]!r}"
    return int(value), None


def sniff_request_id(head: bytes, tail: bytes) -> int | str | None:
    """Best-effort id of a skipped message: a top-level "id" before "params", or as last key."""
    params_at = head.find(b'"params"')
    match = _SNIFF_HEAD_ID.search(head, 0, params_at if params_at >= 0 else len(head))
    match = match or _SNIFF_TAIL_ID.search(tail)
    if match is None:
        return None
    try:
        found = json.loads(match.group(1))
    except ValueError:
        return None
    return found if isinstance(found, (int, str)) else None


# ---- connections ------------------------------------------------------------------------


class TransportError(Exception):
    """The server could not set up or keep its connection."""


class PortInUseError(TransportError):
    """The TCP port asked for is taken by another process."""


class ChunkReader(Protocol):
    """Anything with `await read(n)` returning b"" at end of stream (asyncio.StreamReader)."""

    async def read(self, n: int = -1) -> bytes: ...


class FdReader:
    """Reads a blocking file descriptor (stdin) in a daemon thread, with back-pressure."""

    def __init__(self, fd: int, max_chunks: int = 16):
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(max_chunks)
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, args=(fd, loop), name="distill-lsp-reader", daemon=True)
        self._thread.start()

    def _run(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        chunk = b"x"
        while chunk:
            try:
                chunk = os.read(fd, READ_CHUNK_BYTES)
            except OSError as exc:
                logger.info("Input closed: %s", exc)
                chunk = b""
            try:
                asyncio.run_coroutine_threadsafe(self._queue.put(chunk), loop).result()
            except Exception:  # the loop is gone: nobody is reading any more
                return

    async def read(self, n: int = -1) -> bytes:
        return await self._queue.get()


class FdWriter:
    """Writes frames to a blocking file descriptor (stdout) from one daemon thread.

    Thread-safe and never blocks the caller, so a client that is slow to read cannot
    stall the event loop or a worker thread.
    """

    def __init__(self, fd: int):
        self._fd = fd
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="distill-lsp-writer", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        self._queue.put(data)

    def close(self, timeout: float = 2.0) -> None:
        """Flush what was queued (waiting at most `timeout` seconds) and stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        broken = False
        while (data := self._queue.get()) is not None:
            if broken:
                continue
            try:
                view = memoryview(data)
                while len(view):
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                logger.warning("Output closed (%s); dropping further messages", exc)
                broken = True


class StreamFrameWriter:
    """Adapts an asyncio.StreamWriter to the protocol's writer; callable from any thread."""

    def __init__(self, writer: asyncio.StreamWriter):
        self._writer = writer
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    def write(self, data: bytes) -> None:
        if threading.get_ident() == self._loop_thread:
            self._write(data)
            return
        try:
            self._loop.call_soon_threadsafe(self._write, data)
        except RuntimeError:
            logger.debug("Connection loop closed; dropping %d bytes", len(data))

    def _write(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    def close(self) -> None:
        self._writer.close()


def report_framing_error(protocol: DistillProtocol, error: FramingError) -> None:
    """Log a framing error and answer it where a client may be waiting for an answer."""
    logger.warning("Framing error (%s): %s", error.kind.value, error.detail)
    if error.kind is FramingErrorKind.BAD_HEADER:
        protocol.send_error(error.request_id, JsonRpcParseError.CODE, f"Parse error: {error.detail}")
    elif error.kind is FramingErrorKind.OVERSIZED:
        protocol.send_error(error.request_id, JsonRpcInvalidRequest.CODE, f"Message refused: {error.detail}")
        protocol.notify(
            types.WINDOW_SHOW_MESSAGE,
            types.ShowMessageParams(types.MessageType.Warning, f"distill-lsp refused a message: {error.detail}"),
        )


def dispatch_event(protocol: DistillProtocol, event: DecodedEvent) -> None:
    """Hand one decoded event to the protocol; a failure here never ends the session."""
    try:
        if isinstance(event, Frame):
            protocol.handle_body(event.body)
        else:
            report_framing_error(protocol, event)
    except Exception:
        logger.exception("Unexpected error while handling a message")


async def pump_messages(reader: ChunkReader, protocol: DistillProtocol, decoder: FrameDecoder) -> None:
    """Read until end of stream, dispatching every decoded message in order."""
    while True:
        try:
            chunk = await reader.read(READ_CHUNK_BYTES)
        except (ConnectionError, OSError) as exc:
            logger.info("Connection lost: %s", exc)
            chunk = b""
        for event in decoder.feed(chunk) if chunk else decoder.feed_eof():
            dispatch_event(protocol, event)
        if not chunk:
            logger.info("Client closed the connection")
            return
        await asyncio.sleep(0)  # let handlers run between reads of a flood


def _protocol_of(server: Any) -> DistillProtocol:
    protocol = getattr(server, "protocol", None)
    if not isinstance(protocol, DistillProtocol):
        raise TypeError("the server must be built with protocol_cls=DistillProtocol")
    return protocol


async def serve_connection(
    server: Any,
    reader: ChunkReader,
    writer: Any,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    stop: asyncio.Event | None = None,
) -> int:
    """Serve one LSP session until `exit`, end of input or `stop`; return its exit code.

    `writer` needs a thread-safe ``write(bytes)``. When the session ends every handler
    still running is cancelled and the server's thread pool is shut down (not waited on).
    """
    protocol = _protocol_of(server)
    loop = asyncio.get_running_loop()
    ended = stop or asyncio.Event()
    protocol.set_writer(writer, include_headers=True)
    protocol.on_exit = lambda _code: loop.call_soon_threadsafe(ended.set)
    pump = asyncio.create_task(pump_messages(reader, protocol, FrameDecoder(max_message_bytes)))
    waiter = asyncio.create_task(ended.wait())
    try:
        await asyncio.wait({pump, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        pump.cancel()
        waiter.cancel()
        protocol.close_session()
    return protocol.session_exit_code()


# ---- stdio ------------------------------------------------------------------------------


def start_stdio(
    server: Any,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    exit_process: bool = True,
    exit_grace_s: float = 3.0,
) -> int:
    """Serve one session over stdin/stdout, then exit the process with the LSP exit code.

    Exit code: 0 after ``shutdown`` + ``exit``, 1 for ``exit`` without ``shutdown`` or
    for stdin closing without ``shutdown``, 0 on SIGTERM/SIGINT. File descriptor 1 is
    pointed at stderr while serving, so stray prints cannot corrupt the protocol. With
    `exit_process`, the process is force-exited `exit_grace_s` seconds after the session
    if busy threads still hold it; otherwise the exit code is returned.
    """
    sys.stdout.flush()
    out_fd = os.dup(1)
    os.dup2(2, 1)
    grace = exit_grace_s if exit_process else None
    try:
        code = asyncio.run(_serve_stdio(server, sys.stdin.fileno(), out_fd, max_message_bytes, grace))
    finally:
        if not exit_process:
            os.dup2(out_fd, 1)
        os.close(out_fd)
    if exit_process:
        logging.shutdown()
        sys.exit(code)
    return code


async def _serve_stdio(server: Any, in_fd: int, out_fd: int, max_message_bytes: int, grace: float | None) -> int:
    stop = asyncio.Event()
    signalled = _stop_on_signals(stop)
    writer = FdWriter(out_fd)
    try:
        code = await serve_connection(server, FdReader(in_fd), writer, max_message_bytes=max_message_bytes, stop=stop)
    finally:
        writer.close()
    code = 0 if signalled else code
    if grace is not None:
        arm_exit_watchdog(code, grace)
    return code


def _stop_on_signals(stop: asyncio.Event) -> list[int]:
    """Set `stop` on SIGTERM/SIGINT; the returned list records the signals received."""
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        logger.info("Received signal %d; stopping", signum)
        received.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):
            logger.debug("Cannot handle signal %d here", signum)
    return received


def arm_exit_watchdog(code: int, grace_s: float) -> None:
    """Force the process out with `code` after `grace_s` s if threads keep it alive."""

    def force_exit() -> None:
        logger.warning("Still running %.1fs after the session ended; forcing exit %d", grace_s, code)
        sys.stderr.flush()
        os._exit(code)

    timer = threading.Timer(grace_s, force_exit)
    timer.daemon = True
    timer.start()


# ---- TCP --------------------------------------------------------------------------------


class TcpListener:
    """A listening socket whose every connection is a session with its own server."""

    def __init__(self, server_factory: Callable[[], Any], max_message_bytes: int):
        self._server_factory = server_factory
        self._max_message_bytes = max_message_bytes
        self._listener: asyncio.Server | None = None
        self.sessions: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port actually bound (useful after asking for port 0)."""
        assert self._listener is not None
        return self._listener.sockets[0].getsockname()[1]

    async def listen(self, host: str, port: int) -> None:
        """Bind host:port; PortInUseError names the port when it is taken."""
        try:
            self._listener = await asyncio.start_server(self._on_connect, host, port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"cannot listen on {host}:{port}: port {port} is already in use") from exc
            raise TransportError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        addresses = ", ".join(str(sock.getsockname()) for sock in self._listener.sockets)
        logger.info("Serving LSP over TCP on %s", addresses)

    async def close(self) -> None:
        """Stop listening and end every open session."""
        if self._listener is not None:
            self._listener.close()
        for task in list(self.sessions):
            task.cancel()
        await asyncio.gather(*self.sessions, return_exceptions=True)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        peer = writer.get_extra_info("peername")
        logger.info("TCP client %s connected", peer)
        server = None
        try:
            server = self._server_factory()
            code = await serve_connection(server, reader, StreamFrameWriter(writer), max_message_bytes=self._max_message_bytes)
            logger.info("TCP session with %s ended (exit code %d)", peer, code)
        except asyncio.CancelledError:  # server closing; ending normally keeps asyncio quiet
            logger.info("TCP session with %s cancelled", peer)
        except Exception:
            logger.exception("TCP session with %s failed", peer)
        finally:
            self.sessions.discard(task)
            writer.close()
            if (end := getattr(server, "end_session", None)) is not None:
                end()  # free what the session held in shared places (engine jobs, documents)


async def open_tcp_server(
    server_factory: Callable[[], Any],
    host: str,
    port: int,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> TcpListener:
    """Listen on host:port; each connection gets its own `server_factory()` instance."""
    listener = TcpListener(server_factory, max_message_bytes)
    await listener.listen(host, port)
    return listener


def start_tcp(
    server_factory: Callable[[], Any],
    host: str = "127.0.0.1",
    port: int = 2087,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    exit_grace_s: float = 3.0,
) -> None:
    """Serve LSP over TCP until SIGTERM/SIGINT, one server instance per connection.

    Raises PortInUseError (naming the port) when the port is taken. After a signal the
    open sessions are cancelled and the function returns; the process is force-exited
    with code 0 `exit_grace_s` seconds later if busy threads still hold it.
    """
    asyncio.run(_serve_tcp_until_signal(server_factory, host, port, max_message_bytes))
    arm_exit_watchdog(0, exit_grace_s)


async def _serve_tcp_until_signal(server_factory: Callable[[], Any], host: str, port: int, max_message_bytes: int) -> None:
    stop = asyncio.Event()
    _stop_on_signals(stop)
    listener = await open_tcp_server(server_factory, host, port, max_message_bytes=max_message_bytes)
    try:
        await stop.wait()
    finally:
        await listener.close()
    logger.info("TCP server stopped")
