"""The promises of SECURITY.md, each checked: nothing generated is executed, no file is
read by URI, no network but a configured endpoint, secrets never logged, code content in
logs only at debug level, TCP on loopback by default."""

from __future__ import annotations

import ast
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from distill_lsp.cli import build_parser
from distill_lsp.logs import RedactSecrets, redact
from tests.fixtures.lsp_wire import ROOT, initialize

PACKAGE = ROOT / "server" / "distill_lsp"
SOURCES = sorted(PACKAGE.rglob("*.py"))
RUNS_PROCESSES = {
    "headless.py",  # starts `distill-lsp serve` itself, with a fixed argv
    "sweep/metrics.py",  # `distill-lsp sweep --check` (a tool run by hand, never the server) runs the user's check
    "engine/step_build.py",  # builds the compiled decode step: this Python, a fixed module, server-owned settings as JSON
}
SERVER_NEVER_IMPORTS = ("distill_lsp.sweep", "distill_lsp.playground")
NETWORK_MODULES = {"socket", "http", "urllib.request", "requests", "httpx", "aiohttp", "websockets"}
NETWORK_ALLOWED = {"playground/command.py",  # checks the playground's local port
                   "engine/openai.py"}  # the HTTP backend: only the configured `endpoint`


def calls_and_imports(path: Path) -> tuple[set[str], set[str]]:
    """Dotted names called and modules imported in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    called, imported = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called.add(ast.unparse(node.func))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
    return called, imported


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_is_executed(path: Path) -> None:
    called, imported = calls_and_imports(path)
    forbidden = {"eval", "exec", "compile", "os.system", "os.popen", "os.execv", "os.execvp", "pickle.loads",
                 "runpy.run_path", "importlib.import_module"}
    assert not called & forbidden, f"{path.name} calls {called & forbidden}"
    if str(path.relative_to(PACKAGE)) not in RUNS_PROCESSES:
        assert "subprocess" not in imported and "pty" not in imported, path.name


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_file_is_read_by_uri(path: Path) -> None:
    """pygls' `get_text_document` reads an unknown URI from disk: nothing may call it."""
    source = path.read_text(encoding="utf-8")
    assert "get_text_document" not in source, path.name
    assert "uris.to_fs_path" not in source and "to_fs_path(" not in source, path.name


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_network_module_outside_the_endpoint_backend(path: Path) -> None:
    _, imported = calls_and_imports(path)
    used = {m for m in imported if m.split(".")[0] in NETWORK_MODULES or m in NETWORK_MODULES}
    assert not used or str(path.relative_to(PACKAGE)) in NETWORK_ALLOWED, f"{path.name} imports {used}"


def test_the_server_never_loads_the_tools_that_run_code_or_listen() -> None:
    """The sweep (which can run a user's check) and the playground stay out of `serve`."""
    code = ("import sys; from distill_lsp.server import create_server; create_server(); "
            "print(sorted(m for m in sys.modules if m.startswith(%r)))" % (SERVER_NEVER_IMPORTS,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_unknown_uri_is_not_read_from_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from distill_lsp.server import create_server

    secret = tmp_path / "secret.py"
    secret.write_text("PASSWORD = 'hunter2'\n")
    server = create_server()
    server.protocol.set_writer(io.BytesIO())
    initialize(server.protocol)
    opened: list[str] = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    assert server.snapshot(secret.as_uri(), types.Position(0, 0), automatic=False) is None
    assert str(secret) not in opened
    server.engine.close()


def test_serve_runs_offline() -> None:
    """`serve` sets HF_HUB_OFFLINE before anything loads a model (checked in a child process)."""
    code = ("import os, distill_lsp.transport as t\n"
            "t.start_stdio = lambda *a, **k: print('OFFLINE=' + os.environ.get('HF_HUB_OFFLINE', ''), "
            "os.environ.get('TRANSFORMERS_OFFLINE', ''), flush=True) or 0\n"
            "from distill_lsp.cli import main\nmain(['serve'])\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env["PYTHONPATH"] = str(ROOT / "server")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "OFFLINE=1 1" in out.stdout, out.stderr[-2000:]


@pytest.mark.parametrize("secret", ["apiKey=sk-live-0123456789abcdef", '{"apiKey": "s3cr3t-value"}',
                                    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload",
                                    "token hf_AbCdEfGhIjKlMnOp in a message"])
def test_secrets_are_masked_in_logs(secret: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    log = logging.getLogger("test-security")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("settings: %s", secret)
    finally:
        log.removeHandler(handler)
    value = secret.split("=")[-1].split(": ")[-1].split()[-1].strip('"}') if "hf_" not in secret else "hf_AbCdEfGhIjKlMnOp"
    assert value not in stream.getvalue() and "***" in stream.getvalue()
    assert redact("prompt_tokens=9 maxNewTokens=4") == "prompt_tokens=9 maxNewTokens=4"


def test_tcp_binds_loopback_by_default() -> None:
    args = build_parser().parse_args(["serve", "--tcp"])
    assert args.host == "127.0.0.1"


def test_the_compiled_step_build_is_started_only_from_server_owned_settings() -> None:
    """The build child's argv carries settings as JSON: a TCP client must not be able to set any of them."""
    from distill_lsp.engine.step_build import LOAD_SETTINGS
    from distill_lsp.settings import OPTIONS

    owned = {o.attr for o in OPTIONS if o.server_owned}
    assert set(LOAD_SETTINGS) <= owned and "compile_step" in owned and "kernels" in owned
