"""Emacs (batch, -Q) with the shipped editors/emacs/distill-eglot.el against the real server.

One Emacs run (module fixture) serves the completion test and the code-action tests
(marked ``code_actions``: they need the server's Explain/Fix/Document actions).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from editor_harness import (ACTION_TITLES, EDITORS, HERE, SAMPLE_LINE, SENT_SETTINGS, ServerUnderTest,
                            assert_server_used_fast_settings, phase_ok, read_report, require_binary,
                            write_sample)


def run_emacs(server: ServerUnderTest, workdir: Path, phases: str = "completion,actions,explain") -> dict[str, Any]:
    """Open the sample file in Emacs with Eglot and the test driver; return its report."""
    file = write_sample(workdir)
    result = workdir / "emacs-result.json"
    env = server.env() | {
        "DISTILL_TEST_EDITORS": str(EDITORS),
        "DISTILL_TEST_CMD_JSON": json.dumps(server.command(workdir)),
        "DISTILL_TEST_RESULT": str(result),
        "DISTILL_TEST_FILE": str(file),
        "DISTILL_TEST_LINE": str(SAMPLE_LINE),
        "DISTILL_TEST_TIMEOUT": str(server.timeout_s),
        "DISTILL_TEST_PHASES": phases,
        "HOME": str(workdir),
    }
    cmd = [require_binary("emacs"), "--batch", "-Q", "-l", str(HERE / "emacs" / "test-eglot.el")]
    proc = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True,
                          timeout=server.timeout_s + 90, stdin=subprocess.DEVNULL)
    return read_report(result, proc, "emacs")


def check_completion(report: dict[str, Any], server: ServerUnderTest) -> None:
    """completion-at-point offered the server's suggestion and inserted it."""
    phase_ok(report, "connect")
    phase_ok(report, "completion")
    assert report["connected"] is True
    assert report["init_options"] == SENT_SETTINGS and report["settings"] == SENT_SETTINGS, report
    candidates = report["candidates"]
    assert candidates and all(c.strip() for c in candidates), report
    if server.expected is not None:
        assert server.expected in candidates
    # completion-at-point inserted a candidate (the only one) or at least its common prefix.
    inserted = report["line_after"][len(report["line_before"]):]
    assert report["line_after"].startswith(report["line_before"]) and inserted.strip(), report
    assert any(c.startswith(inserted) or inserted.startswith(c.rstrip("…")) for c in candidates), report
    if len(candidates) == 1 and not candidates[0].endswith("…"):
        assert inserted == candidates[0]
    assert "initialize" in report["sent"] and "textDocument/completion" in report["sent"]


@pytest.fixture(scope="module")
def emacs_run(server: ServerUnderTest, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    workdir = tmp_path_factory.mktemp("emacs")
    return run_emacs(server, workdir), workdir


def test_emacs_eglot_completion_at_point(server: ServerUnderTest, emacs_run: tuple[dict[str, Any], Path]) -> None:
    report, workdir = emacs_run
    check_completion(report, server)
    assert_server_used_fast_settings(server, workdir)


@pytest.mark.code_actions
def test_emacs_eglot_code_action_titles(emacs_run: tuple[dict[str, Any], Path]) -> None:
    report, _ = emacs_run
    phase_ok(report, "actions")
    assert ACTION_TITLES <= set(report["action_titles"]), report


@pytest.mark.code_actions
def test_emacs_distill_explain_executes(emacs_run: tuple[dict[str, Any], Path]) -> None:
    """`distill-explain' picks "Explain this" and runs its command (Eglot 1.9 has no resolve)."""
    report, _ = emacs_run
    phase_ok(report, "explain")
    assert "workspace/executeCommand" in report["sent"]


def test_emacs_snippets_read() -> None:
    """Both Emacs snippets are well-formed Lisp (lsp-mode is not installed, so only read them)."""
    script = ("(dolist (f command-line-args-left)"
              " (with-temp-buffer (insert-file-contents f) (emacs-lisp-mode)"
              " (check-parens) (goto-char (point-min))"
              " (condition-case nil (while t (read (current-buffer))) (end-of-file nil))"
              " (princ (format \"ok %s\\n\" f))))")
    files = [str(EDITORS / "emacs" / n) for n in ("distill-eglot.el", "distill-lsp-mode.el")]
    proc = subprocess.run([require_binary("emacs"), "--batch", "-Q", "--eval", script, *files],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok ") == 2, proc.stdout + proc.stderr
