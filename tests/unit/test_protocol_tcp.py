"""TCP transport: concurrent sessions with their own state, resets, port conflicts, SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import weakref
from typing import Any

import pytest

from distill_lsp.transport import PortInUseError, open_tcp_server
from tests.fixtures.lsp_wire import FIXTURE_SERVER, INIT_PARAMS, ROOT, frame, notification, request
from tests.fixtures.transport_server import build_server


class TcpClient:
    """A raw-bytes LSP client over one TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> TcpClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, message: dict[str, Any]) -> None:
        self.writer.write(frame(message))
        await self.writer.drain()

    async def recv(self) -> dict[str, Any] | None:
        header = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        match = re.fullmatch(rb"Content-Length: (\d+)\r\n\r\n", header)
        assert match is not None, header
        return json.loads(await self.reader.readexactly(int(match.group(1))))

    async def call(self, msg_id: Any, method: str, params: Any = None) -> dict[str, Any]:
        await self.send(request(msg_id, method, params))
        while (message := await self.recv()) is not None and "method" in message:
            pass
        assert message is not None and message["id"] == msg_id
        return message

    async def initialize(self) -> None:
        assert "result" in await self.call("init", "initialize", INIT_PARAMS)
        await self.send(notification("initialized", {}))


async def test_concurrent_clients_get_separate_sessions_and_a_reset_frees_one():
    made: list[weakref.ref] = []

    def factory():
        server = build_server()
        made.append(weakref.ref(server))
        return server

    listener = await open_tcp_server(factory, "127.0.0.1", 0)
    try:
        first, second = await TcpClient.connect(listener.port), await TcpClient.connect(listener.port)
        await asyncio.gather(first.initialize(), second.initialize())
        doc = {"uri": "file:///only-in-first.py", "languageId": "python", "version": 1, "text": "x = 1\n"}
        await first.send(notification("textDocument/didOpen", {"textDocument": doc}))
        assert (await first.call(1, "test/documents"))["result"] == [doc["uri"]]
        assert (await second.call(1, "test/documents"))["result"] == []
        slow = asyncio.ensure_future(first.call(2, "test/sleep", {"seconds": 30}))
        await asyncio.sleep(0.1)
        first.writer.transport.abort()  # connection reset with a request in flight
        await asyncio.sleep(0.2)
        assert len(listener.sessions) == 1
        assert (await second.call(3, "test/sleep", {"seconds": 0}))["result"] == {"slept": 0}
        slow.cancel()
        gc.collect()
        assert [ref() is None for ref in made] == [True, False]
        await second.send(notification("exit"))
        assert await second.reader.read() == b""  # the server closed this connection
        assert len(listener.sessions) == 0
    finally:
        await listener.close()


async def test_a_port_in_use_is_reported_by_number():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} is already in use"):
            await open_tcp_server(build_server, "127.0.0.1", port)


def test_tcp_server_process_exits_cleanly_on_sigterm():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "server"))
    proc = subprocess.Popen(
        [sys.executable, str(FIXTURE_SERVER), "--tcp", "0", "--exit-grace", "1"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        port = None
        while port is None and (line := proc.stderr.readline()):
            if match := re.search(rb"Serving LSP over TCP on \('127\.0\.0\.1', (\d+)\)", line):
                port = int(match.group(1))
        assert port is not None
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(frame(request(1, "initialize", INIT_PARAMS)))
            assert b'"id":1,"result"' in conn.recv(65536)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
