"""VS Code extension (editors/vscode): npm install, type check, and the extension's protocol exchange.

VS Code itself can't run here: `scripts/smoke-client.js` (vscode-jsonrpc, the settings the
extension sends) talks to the real server over stdio. The code-action test is marked
``code_actions`` (it needs the server's Explain/Fix/Document actions).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from editor_harness import (ACTION_TITLES, EDITORS, FAST_SETTINGS, SAMPLE, SAMPLE_LINE, SENT_SETTINGS,
                            ServerUnderTest, assert_server_used_fast_settings, require_binary, write_sample)

VSCODE = EDITORS / "vscode"
INLINE_CAPABILITIES = {"inlineCompletionProvider", "completionProvider"}
ACTION_CAPABILITIES = {"codeActionProvider", "executeCommandProvider"}
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
    assert props["distill.profile"]["enum"] == ["auto", "greedy", "precise", "coding", "creative"]
    assert manifest["main"] == "./extension.js" and (VSCODE / "extension.js").exists()
    assert "vscode-languageclient" in manifest["dependencies"]


def run_smoke(server: ServerUnderTest, workdir: Path) -> dict[str, Any]:
    """The smoke client (the extension's protocol exchange) against the server; its JSON report."""
    file = write_sample(workdir)
    character = len(SAMPLE.splitlines()[SAMPLE_LINE - 1])
    cmd = [require_binary("node"), str(VSCODE / "scripts" / "smoke-client.js"),
           str(file), str(SAMPLE_LINE - 1), str(character), "--", *server.command(workdir)]
    env = server.env() | {"SMOKE_TIMEOUT_S": str(server.timeout_s), "SMOKE_SETTINGS_JSON": json.dumps(FAST_SETTINGS)}
    proc = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True,
                          timeout=server.timeout_s + 90, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and proc.stdout.strip(), f"rc={proc.returncode}: {proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def inline_texts(report: dict[str, Any]) -> list[str]:
    return [i["insertText"] if isinstance(i["insertText"], str) else i["insertText"]["value"]
            for i in report["items"]]


@pytest.fixture(scope="module")
def smoke_run(installed: Path, server: ServerUnderTest,
              tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    workdir = tmp_path_factory.mktemp("vscode")
    return run_smoke(server, workdir), workdir


def test_vscode_client_inline_completion(server: ServerUnderTest, smoke_run: tuple[dict[str, Any], Path]) -> None:
    report, workdir = smoke_run
    assert INLINE_CAPABILITIES <= set(report["capabilities"]), report
    assert report["settings"] == SENT_SETTINGS
    texts = inline_texts(report)
    assert texts and all(t.strip() for t in texts), report
    if server.expected is not None:
        assert texts == [server.expected]
    if server.kind == "real":
        assert [s["state"] for s in report["statuses"]] == ["ready"], report["statuses"]
    assert not any("invalid settings" in m or "unknown" in m for m in report["messages"]), report["messages"]
    assert_server_used_fast_settings(server, workdir)


@pytest.mark.code_actions
def test_vscode_client_code_actions(smoke_run: tuple[dict[str, Any], Path]) -> None:
    report, _ = smoke_run
    assert report["actionsError"] is None, report
    assert ACTION_CAPABILITIES <= set(report["capabilities"]), report
    assert COMMANDS <= set(report["executeCommands"]), report
    assert ACTION_TITLES <= set(report["actionTitles"]), report
    assert report["resolveError"] is None and report["resolvedTitle"] == "Explain this", report
