"""Battery, lifecycle of the real server process: exit codes, the client vanishing,
SIGTERM, TCP sessions that end alone, a TCP port already in use."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from tests.fixtures.lsp_wire import ROOT, frame, notification, request
from tests.fixtures.real_server import did_open, inline, start_real_server

ADD = "def add(a, b):\n    return "
OPTIONS = {"profile": "greedy", "maxNewTokens": 4, "contextTokens": 256}


def test_shutdown_then_exit_is_code_0_within_5s() -> None:
    session, status = start_real_server(OPTIONS)
    try:
        assert status["state"] == "ready"
        did_open(session, "file:///lc/a.py", ADD)
        session.send(inline(1, "file:///lc/a.py", 1, 11))  # a generation may still be running
        session.send(request("bye", "shutdown"))
        started = time.monotonic()
        while session.recv(30).get("id") != "bye":
            pass
        session.send(notification("exit"))
        assert session.wait(5) == 0
        assert time.monotonic() - started < 5
    finally:
        session.kill()


def test_exit_without_shutdown_is_code_1() -> None:
    session, _ = start_real_server(OPTIONS)
    try:
        session.send(notification("exit"))
        assert session.wait(5) == 1
    finally:
        session.kill()


def test_stdin_closed_ends_the_process() -> None:
    session, _ = start_real_server(OPTIONS)
    try:
        session.close_stdin()
        assert session.wait(10) == 1  # no shutdown was asked for
    finally:
        session.kill()


def test_sigterm_during_generation_exits_cleanly() -> None:
    session, _ = start_real_server({**OPTIONS, "maxNewTokens": 256})
    try:
        did_open(session, "file:///lc/long.py", "numbers = [\n    1,\n    2,\n")
        session.send(inline(1, "file:///lc/long.py", 3, 0))
        time.sleep(0.5)
        session.proc.send_signal(signal.SIGTERM)
        assert session.wait(10) == 0
        assert "Traceback" not in session.stderr_tail()
    finally:
        session.kill()


# ---- TCP --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_tcp(port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "server"))
    return subprocess.Popen([sys.executable, "-m", "distill_lsp", "serve", "--tcp", "--port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=ROOT)


class TcpClient:
    def __init__(self, port: int):
        deadline = time.monotonic() + 60
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the TCP server never listened"
                time.sleep(0.2)
        self.buf = b""

    def send(self, *messages: dict) -> None:
        self.sock.sendall(b"".join(frame(m) for m in messages))

    def recv(self) -> dict:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = int(head.split(b":")[1])
        while len(rest) < length:
            self.buf = head + b"\r\n\r\n" + rest
            self._fill()
            head, _, rest = self.buf.partition(b"\r\n\r\n")
        self.buf = rest[length:]
        return json.loads(rest[:length])

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed the connection"
        self.buf += chunk

    def until(self, pred) -> dict:
        while not pred(message := self.recv()):
            pass
        return message

    def start(self) -> dict:
        self.send(request("init", "initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                                 "initializationOptions": OPTIONS}))
        self.until(lambda m: m.get("id") == "init")
        self.send(notification("initialized", {}))
        return self.until(lambda m: m.get("method") == "distill/status")["params"]

    def complete(self, msg_id: str) -> dict:
        uri = f"file:///tcp/{msg_id}.py"
        self.send(notification("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": ADD}}), inline(msg_id, uri, 1, 11))
        return self.until(lambda m: m.get("id") == msg_id)

    def reset(self) -> None:
        """Close with RST (SO_LINGER 0), as a crashed client does."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def test_tcp_reset_ends_one_session_the_other_keeps_working() -> None:
    port = free_port()
    proc = serve_tcp(port)
    try:
        first, second = TcpClient(port), TcpClient(port)
        assert first.start()["state"] == "ready"
        assert second.start()["state"] == "ready"  # the shared model is not loaded twice
        first.send(inline("pending", "file:///tcp/none.py", 0, 0))
        first.reset()
        time.sleep(0.5)
        answer = second.complete("after-reset")
        assert answer["result"]["items"] and answer["result"]["items"][0]["insertText"].strip()
        # a session that shuts down properly does not stop the shared engine either
        second.send(request("bye", "shutdown"))
        second.until(lambda m: m.get("id") == "bye")
        second.send(notification("exit"))
        third = TcpClient(port)
        assert third.start()["state"] == "ready"
        assert third.complete("third")["result"]["items"]
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        log = proc.stderr.read().decode(errors="replace")
        assert log.count("loaded on") == 1, "one model load for every session"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_tcp_port_in_use_names_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve_tcp(port)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"port {port}" in err.decode() and "in use" in err.decode()


def test_tcp_binds_loopback_by_default() -> None:
    psutil = pytest.importorskip("psutil")
    port = free_port()
    proc = serve_tcp(port)
    try:
        TcpClient(port).sock.close()
        listening = [c.laddr for c in psutil.Process(proc.pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        proc.kill()
        proc.wait(5)
