"""Shared helpers for the real-editor tests: the server command, the sample file, editor binaries.

The editors talk to the REAL server by default: ``python -m distill_lsp serve`` with this
checkout's ``server/`` on ``PYTHONPATH`` and the bundled model. It answers empty while its
model loads (~3 s with a warm converted-model cache, ~20 s the very first time), so every
editor script polls for a suggestion up to ``DISTILL_LSP_EDITOR_TIMEOUT`` seconds (120).

``DISTILL_LSP_EDITOR_SERVER_CMD`` (shell-quoted, must also accept ``--tcp --port N``)
points the same tests at another server command. The stand-in ``fake_server.py`` is used
only by ``test_standin.py``, a separate fast check of the editor-side wiring.

Every editor loads the shipped ``editors/`` config and overrides only the server command
and `FAST_SETTINGS` (passed to the drivers as ``DISTILL_TEST_SETTINGS_JSON``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import stop_process

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EDITORS = REPO / "editors"
FAKE_SERVER = HERE / "fake_server.py"
#: The file every editor opens; the cursor goes to the end of line SAMPLE_LINE ("    return ").
#: The `def` line lacks its colon, so the server offers "Fix this" along with the other actions.
SAMPLE = 'def add(a, b)\n    """Return the sum of a and b."""\n    return \n'
SAMPLE_LINE = 3
#: What the stand-in server suggests there.
FAKE_SUGGESTION = "a + b"
#: Settings every test config sends over the shipped defaults: fast, deterministic completions.
FAST_SETTINGS: dict[str, Any] = {"profile": "greedy", "maxNewTokens": 16}
#: The settings the shipped configs send (model, profile, maxNewTokens), before the test's override.
SHIPPED_SETTINGS: dict[str, Any] = {"model": "auto", "profile": "auto", "maxNewTokens": 64}
#: What the configs send under test: the shipped settings with `FAST_SETTINGS` merged in.
SENT_SETTINGS: dict[str, Any] = SHIPPED_SETTINGS | FAST_SETTINGS
#: Titles of the code actions every editor must list (served once the code-action branch lands).
ACTION_TITLES = {"Explain this", "Fix this", "Document this"}
#: How long an editor waits for the code-action list once completions work (seconds).
ACTIONS_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ServerUnderTest:
    """How to start the server, what it is expected to suggest (if known), and whether it logs."""

    cmd: list[str]
    kind: str  # "real" (this checkout), "custom" (DISTILL_LSP_EDITOR_SERVER_CMD) or "standin"
    expected: str | None
    timeout_s: float

    def command(self, log_dir: Path | None = None) -> list[str]:
        """The start command; the real server also writes a debug log to ``log_dir/server.log``."""
        if self.kind == "real" and log_dir is not None:
            return [*self.cmd, "--log-level", "debug", "--log-file", str(log_dir / "server.log")]
        return list(self.cmd)

    def env(self) -> dict[str, str]:
        """Environment for a child that runs the server: this checkout importable, caches pinned.

        Editors run with HOME set to a temporary folder, so the converted-model cache and the
        Hugging Face cache are pinned to the caller's (else every run would convert again).
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "server"), env.get("PYTHONPATH")) if p)
        home = Path.home()
        cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
        env.setdefault("DISTILL_LSP_CACHE_DIR", str(cache / "distill-lsp"))
        env.setdefault("HF_HOME", str(cache / "huggingface"))
        env.setdefault("FAKE_DISTILL_WARMUP_S", "1.0")
        env["DISTILL_TEST_SETTINGS_JSON"] = json.dumps(FAST_SETTINGS)
        env["DISTILL_TEST_ACTIONS_TIMEOUT"] = str(ACTIONS_TIMEOUT_S)
        return env


def _timeout() -> float:
    return float(os.environ.get("DISTILL_LSP_EDITOR_TIMEOUT", "120"))


def real_server() -> ServerUnderTest:
    """This checkout's server: ``python -m distill_lsp serve`` (PYTHONPATH=server/, see `env`)."""
    return ServerUnderTest([sys.executable, "-m", "distill_lsp", "serve"], "real", None, _timeout())


def standin_server() -> ServerUnderTest:
    """The stand-in `fake_server.py` (fixed suggestion, all three code actions)."""
    return ServerUnderTest([sys.executable, str(FAKE_SERVER)], "standin", FAKE_SUGGESTION, 30.0)


def server_under_test() -> ServerUnderTest:
    """``DISTILL_LSP_EDITOR_SERVER_CMD`` if set, else this checkout's real server."""
    raw = os.environ.get("DISTILL_LSP_EDITOR_SERVER_CMD", "").strip()
    if not raw:
        return real_server()
    cmd = shlex.split(raw)
    if cmd[0] in ("python", "python3"):
        cmd[0] = sys.executable
    # Editors run in a temporary directory: make repo-relative paths absolute.
    cmd = [str(REPO / a) if not Path(a).is_absolute() and (REPO / a).exists() else a for a in cmd]
    return ServerUnderTest(cmd, "custom", None, _timeout())


def write_sample(tmp_path: Path) -> Path:
    """A small Python project with the sample file (a .git marker makes it a workspace root)."""
    (tmp_path / ".git").mkdir(exist_ok=True)
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
        pytest.fail(f"{name} is not installed (run .ci/install-editors.sh; see tests/editors/README.md)")
    return found


def read_report(result: Path, proc: subprocess.CompletedProcess[str], editor: str) -> dict[str, Any]:
    """The JSON report an editor driver wrote; fails with the editor's output when there is none."""
    assert result.exists(), (f"{editor} wrote no report (rc={proc.returncode}):\n"
                             f"{(proc.stdout or '')[-2000:]}\n{(proc.stderr or '')[-3000:]}")
    report = json.loads(result.read_text())
    report["_stderr"] = (proc.stderr or "")[-3000:]
    return report


def phase_ok(report: Mapping[str, Any], phase: str) -> None:
    """Fail unless the driver's `phase` ran without an error."""
    errors = report.get("errors") or {}
    assert phase in (report.get("done") or []) and not errors.get(phase), (
        f"phase {phase!r} failed: {errors.get(phase)}\nerrors: {errors}\n"
        f"report: { {k: v for k, v in report.items() if k != '_stderr'} }\nstderr: {report.get('_stderr')}")


def assert_server_used_fast_settings(server: ServerUnderTest, log_dir: Path) -> None:
    """The real server's log shows completions ran with the settings the editor config sent."""
    if server.kind != "real":
        return
    log = (log_dir / "server.log").read_text(errors="replace")
    runs = re.findall(r"profile=(\w+) prompt_tokens=\d+ reused=\d+ new_tokens=(\d+)", log)
    assert runs, f"no completion in the server log:\n{log[-3000:]}"
    assert all(p == FAST_SETTINGS["profile"] and int(n) <= FAST_SETTINGS["maxNewTokens"] for p, n in runs), runs
    assert "ignored invalid settings" not in log, log[-3000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, without connecting (the server takes one connection)."""
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
def tcp_server(server: ServerUnderTest, log_dir: Path) -> Iterator[int]:
    """The server under test listening on TCP (``<cmd> --tcp --port N``); yields the port."""
    port = free_port()
    log = log_dir / "tcp-server.stderr"
    with log.open("wb") as err:
        proc = subprocess.Popen([*server.command(log_dir), "--tcp", "--port", str(port)], env=server.env(),
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while not is_listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"TCP server did not listen on {port}: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield port
    finally:
        stop_process(proc, 10)
