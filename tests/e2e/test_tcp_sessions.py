"""Many editor windows, one process: `distill-lsp serve --tcp` with the real bundled model.

Three clients connect at once, each opens its own text under the same URI and gets a
completion of it; the process holds one engine that loaded the model once; a client
that disconnects in the middle of a request does not disturb the other two, and its
session is dropped from the engine.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

import psutil
import pytest

from tests.fixtures.fake_openai import free_port
from tests.fixtures.lsp_wire import frame, notification, request
from tests.helpers import stop_process

URI = "file:///team/main.py"  # the same URI in every window: sessions must not mix their documents
DOCS = {
    "a": "def add(a, b):\n    return ",
    "b": "def is_even(n):\n    return ",
    "c": "def greet(name):\n    return ",
}
OPTIONS = {"profile": "greedy", "maxNewTokens": 12, "contextTokens": 256}


class Client:
    """A raw LSP client over one TCP connection; notifications are kept by method."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.notifications: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, message: dict[str, Any]) -> None:
        self.writer.write(frame(message))
        await self.writer.drain()

    async def recv(self, timeout: float) -> dict[str, Any]:
        header = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        length = int(re.fullmatch(rb"Content-Length: (\d+)\r\n\r\n", header).group(1))
        return json.loads(await self.reader.readexactly(length))

    async def call(self, msg_id: Any, method: str, params: Any = None, timeout: float = 180) -> dict[str, Any]:
        await self.send(request(msg_id, method, params))
        while "method" in (message := await self.recv(timeout)):
            self.notifications.append(message)
        assert message["id"] == msg_id, message
        return message

    async def start(self, text: str) -> dict[str, Any]:
        """initialize, wait for the model, open `text` as URI; the distill/status params."""
        init = {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": OPTIONS}
        assert "result" in await self.call("init", "initialize", init)
        await self.send(notification("initialized", {}))
        while not any(n["method"] == "distill/status" for n in self.notifications):
            self.notifications.append(await self.recv(240))
        await self.send(notification("textDocument/didOpen", {"textDocument": {
            "uri": URI, "languageId": "python", "version": 1, "text": text}}))
        return next(n["params"] for n in self.notifications if n["method"] == "distill/status")

    async def complete(self, msg_id: Any, text: str) -> str:
        lines = text.split("\n")
        answer = await self.call(msg_id, "textDocument/inlineCompletion", {
            "textDocument": {"uri": URI}, "position": {"line": len(lines) - 1, "character": len(lines[-1])},
            "context": {"triggerKind": 1}})
        items = (answer.get("result") or {}).get("items", [])
        return items[0]["insertText"] if items else ""


@pytest.fixture(scope="module")
def tcp_server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "distill_lsp", "serve", "--tcp", "--port", str(port),
                             "--log-level", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    try:
        assert proc.stderr is not None
        while line := proc.stderr.readline():  # the listener logs its address once it is bound
            if b"Serving LSP over TCP" in line:
                break
        assert proc.poll() is None, "the TCP server exited"
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe from filling up
        yield port, proc
    finally:
        stop_process(proc)


async def test_three_windows_share_one_model_and_a_disconnect_disturbs_no_one(tcp_server) -> None:
    port, proc = tcp_server
    clients = {name: await Client.connect(port) for name in DOCS}
    statuses = await asyncio.gather(*(c.start(DOCS[n]) for n, c in clients.items()))
    assert all(s["state"] == "ready" and "SmolLM2" in s["model"] for s in statuses), statuses

    # each window completes its own text (same URI, different documents), all at once
    answers = await asyncio.gather(*(c.complete(f"{n}1", DOCS[n]) for n, c in clients.items()))
    assert all(a.strip() for a in answers), answers

    engine = [(await c.call(f"{n}s", "distill/engineStatus"))["result"] for n, c in clients.items()]
    assert len({e["engineId"] for e in engine}) == 1, "each session has its own engine"
    assert {e["loads"] for e in engine} == {1}, "the model was loaded more than once"
    assert {e["sessions"] for e in engine} == {3}
    assert len({e["session"] for e in engine}) == 3
    params = engine[0]["parameterBytes"]
    assert params > 100e6  # SmolLM2-135M's weights, held once
    rss = psutil.Process(proc.pid).memory_info().rss
    print(f"parameter bytes {params / 2**20:.0f} MiB, server RSS {rss / 2**20:.0f} MiB with 3 sessions")
    assert rss < 2 * params + 1.5 * 2**30  # one copy of the weights plus the runtime, not three copies

    # window c asks, then its connection is reset mid-request; a and b go on as before
    gone = clients.pop("c")
    await gone.send(request("c2", "textDocument/inlineCompletion", {
        "textDocument": {"uri": URI}, "position": {"line": 1, "character": 11}, "context": {"triggerKind": 1}}))
    await asyncio.sleep(0.3)  # the request is in the engine's queue or running
    gone.writer.transport.abort()
    started = time.monotonic()
    after = await asyncio.gather(*(c.complete(f"{n}2", DOCS[n] + "a") for n, c in clients.items()))
    assert all(a.strip() for a in after), after
    assert time.monotonic() - started < 120
    for _ in range(50):
        status = (await clients["a"].call("as2", "distill/engineStatus"))["result"]
        if status["sessions"] == 2:
            break
        await asyncio.sleep(0.1)
    assert status["sessions"] == 2 and status["loads"] == 1 and status["pending"] == 0, status
    for name, client in clients.items():
        assert "result" in await client.call(f"{name}bye", "shutdown")
        await client.send(notification("exit"))
    assert proc.poll() is None, "the server process must outlive its sessions"
