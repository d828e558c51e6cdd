"""Fast check of the editor-side wiring against the stand-in server (`fake_server.py`).

Not proof that the product works (the other test modules run the editors against the real
server): this checks, in seconds, that each editor config and driver handles the exact
suggestion and the full code-action flow (list, resolve/execute) the way the server is
specified to serve them, independently of the model and of the server's progress.
"""

from __future__ import annotations

from pathlib import Path

from editor_harness import ACTION_TITLES, FAKE_SUGGESTION, ServerUnderTest, phase_ok
from test_emacs import check_completion, run_emacs
from test_neovim import check_inline, run_nvim
from test_vim import check_omni_completion, run_vim
from test_vscode import inline_texts, npm, run_smoke


def test_standin_neovim(standin: ServerUnderTest, tmp_path: Path) -> None:
    report = run_nvim(standin, tmp_path)
    check_inline(report, standin)
    phase_ok(report, "actions")
    assert ACTION_TITLES <= set(report["action_titles"]), report["action_titles"]
    phase_ok(report, "explain")


def test_standin_emacs(standin: ServerUnderTest, tmp_path: Path) -> None:
    report = run_emacs(standin, tmp_path)
    check_completion(report, standin)
    phase_ok(report, "actions")
    assert ACTION_TITLES <= set(report["action_titles"]), report
    phase_ok(report, "explain")


def test_standin_vim(standin: ServerUnderTest, tmp_path: Path) -> None:
    check_omni_completion(run_vim(standin, tmp_path), standin)


def test_standin_vscode_client(standin: ServerUnderTest, tmp_path: Path) -> None:
    npm("install", "--no-audit", "--no-fund", "--prefer-offline")
    report = run_smoke(standin, tmp_path)
    assert inline_texts(report) == [FAKE_SUGGESTION], report
    assert report["actionsError"] is None and ACTION_TITLES <= set(report["actionTitles"]), report
    assert report["resolvedTitle"] == "Explain this", report
    assert not any("unknown" in m for m in report["messages"]), report["messages"]
