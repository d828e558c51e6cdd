"""VS Code extension (editors/vscode): npm install, type check, and an LSP client run against the server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from editor_harness import EDITORS, SAMPLE_LINE, SAMPLE, ServerUnderTest, require_binary

VSCODE = EDITORS / "vscode"
CAPABILITIES = {"inlineCompletionProvider", "completionProvider", "codeActionProvider", "executeCommandProvider"}
COMMANDS = {"distill.explain", "distill.fix", "distill.document", "distill.setProfile"}


def npm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([require_binary("npm"), *args], cwd=VSCODE, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"npm {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed() -> Path:
    """`npm install` from the committed lockfile (quick when node_modules is current)."""
    npm("install", "--no-audit", "--no-fund", "--prefer-offline")
    assert (VSCODE / "node_modules" / "vscode-languageclient" / "package.json").exists()
    return VSCODE


def test_vscode_type_check(installed: Path) -> None:
    """tsc --noEmit over the checkJs sources, then node --check (package.json "check" script)."""
    npm("run", "check")


def test_vscode_manifest_contributes_server_settings() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text())
    props: dict[str, Any] = {}
    for block in manifest["contributes"]["configuration"]:
        props |= block["properties"]
    assert {"distill.model", "distill.profile", "distill.maxNewTokens"} <= set(props)
    assert props["distill.profile"]["enum"] == ["greedy", "precise", "coding", "creative"]
    assert manifest["main"] == "./extension.js" and (VSCODE / "extension.js").exists()
    assert "vscode-languageclient" in manifest["dependencies"]


def run_smoke(server: ServerUnderTest, file: Path) -> dict[str, Any]:
    character = len(SAMPLE.splitlines()[SAMPLE_LINE - 1])
    cmd = [require_binary("node"), str(VSCODE / "scripts" / "smoke-client.js"),
           str(file), str(SAMPLE_LINE - 1), str(character), "--", *server.cmd]
    env = server.env() | {"SMOKE_TIMEOUT_S": str(server.timeout_s)}
    proc = subprocess.run(cmd, env=env, cwd=file.parent, capture_output=True, text=True,
                          timeout=server.timeout_s + 60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and proc.stdout.strip(), f"rc={proc.returncode}: {proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_vscode_client_against_server(installed: Path, server: ServerUnderTest, sample_file: Path) -> None:
    report = run_smoke(server, sample_file)
    assert CAPABILITIES <= set(report["capabilities"]), report
    assert COMMANDS <= set(report["executeCommands"]), report
    assert report["settings"] == {"model": "auto", "profile": "coding", "maxNewTokens": 64}
    texts = [i["insertText"] if isinstance(i["insertText"], str) else i["insertText"]["value"]
             for i in report["items"]]
    assert texts and all(t.strip() for t in texts), report
    if server.expected is not None:
        assert texts == [server.expected]
    assert {"Explain this", "Fix this", "Document this"} <= set(report["actionTitles"]), report
    assert report["resolvedTitle"] == "Explain this"
    assert not any("unknown" in m for m in report["messages"]), report["messages"]
