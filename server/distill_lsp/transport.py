"""The stdio and TCP connections that carry the LSP base protocol.

`serve_connection` pumps one connection through a `framing.FrameDecoder` into a
`DistillProtocol`; `start_stdio` and `start_tcp` are the process entry points. A TCP
connection becomes a session only after its server is made by the session factory
(which checks the access token where one is required).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidRequest, JsonRpcParseError

from distill_lsp.framing import DEFAULT_MAX_MESSAGE_BYTES, DecodedEvent, Frame, FrameDecoder, FramingError, FramingErrorKind
from distill_lsp.protocol import DistillProtocol

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 64 * 1024


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
