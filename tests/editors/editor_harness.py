"""Shared helpers for the real-editor tests: the server command, the sample file, editor binaries.

The server under test is one environment variable, ``DISTILL_LSP_EDITOR_SERVER_CMD``
(a shell-quoted command that speaks LSP on stdio and accepts ``--tcp --port N``).
It defaults to the stand-in ``fake_server.py``; point it at the real server with
``DISTILL_LSP_EDITOR_SERVER_CMD="python -m distill_lsp serve"``.
The real server answers empty while its model loads (~20 s), so every editor
script polls for a suggestion up to ``DISTILL_LSP_EDITOR_TIMEOUT`` seconds (120).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EDITORS = REPO / "editors"
FAKE_SERVER = HERE / "fake_server.py"
#: The file every editor opens; the cursor goes to the end of line SAMPLE_LINE ("    return ").
SAMPLE = 'def add(a, b):\n    """Return the sum of a and b."""\n    return \n'
SAMPLE_LINE = 3
#: What the stand-in server suggests there; None when testing another server.
FAKE_SUGGESTION = "a + b"


@dataclass(frozen=True)
class ServerUnderTest:
    """The command to start the server, and what it is expected to suggest (if known)."""

    cmd: list[str]
    expected: str | None
    timeout_s: float

    def env(self) -> dict[str, str]:
        """Environment for a child process that runs the server (the repo's package importable)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "server"), env.get("PYTHONPATH")) if p)
        env.setdefault("FAKE_DISTILL_WARMUP_S", "1.0")
        return env


def server_under_test() -> ServerUnderTest:
    """Read ``DISTILL_LSP_EDITOR_SERVER_CMD`` (default: the stand-in server)."""
    raw = os.environ.get("DISTILL_LSP_EDITOR_SERVER_CMD", "").strip()
    timeout = float(os.environ.get("DISTILL_LSP_EDITOR_TIMEOUT", "120"))
    if not raw:
        return ServerUnderTest([sys.executable, str(FAKE_SERVER)], FAKE_SUGGESTION, timeout)
    cmd = shlex.split(raw)
    if cmd[0] in ("python", "python3"):
        cmd[0] = sys.executable
    # Editors run in a temporary directory: make repo-relative paths absolute.
    cmd = [str(REPO / a) if not Path(a).is_absolute() and (REPO / a).exists() else a for a in cmd]
    return ServerUnderTest(cmd, None, timeout)


def write_sample(tmp_path: Path) -> Path:
    """A small Python project with the sample file (a .git marker makes it a workspace root)."""
    (tmp_path / ".git").mkdir()
    path = tmp_path / "sample.py"
    path.write_text(SAMPLE)
    return path


def require_binary(name: str, *candidates: Path) -> str:
    """The path of an editor binary; a missing editor FAILS the test (it is part of the suite)."""
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (see tests/editors/README.md for the install commands)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, without connecting (pygls serves one connection)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                return True
    return False


@contextmanager
def tcp_server(server: ServerUnderTest, tmp_path: Path) -> Iterator[int]:
    """The server under test listening on TCP (``<cmd> --tcp --port N``); yields the port."""
    port = free_port()
    log = tmp_path / "tcp-server.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([*server.cmd, "--tcp", "--port", str(port)], env=server.env(),
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while True:
            if is_listening(port):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"TCP server did not listen on {port}: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
