"""Emacs (batch, -Q) with the shipped editors/emacs/distill-eglot.el: Eglot completion and code actions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from editor_harness import EDITORS, HERE, SAMPLE_LINE, ServerUnderTest, require_binary

ACTIONS = {"Explain this", "Fix this", "Document this"}


def run_emacs(server: ServerUnderTest, file: Path) -> dict[str, Any]:
    result = file.parent / "emacs-result.json"
    env = server.env() | {
        "DISTILL_TEST_EDITORS": str(EDITORS),
        "DISTILL_TEST_CMD_JSON": json.dumps(server.cmd),
        "DISTILL_TEST_RESULT": str(result),
        "DISTILL_TEST_FILE": str(file),
        "DISTILL_TEST_LINE": str(SAMPLE_LINE),
        "DISTILL_TEST_TIMEOUT": str(server.timeout_s),
        "HOME": str(file.parent),
    }
    cmd = [require_binary("emacs"), "--batch", "-Q", "-l", str(HERE / "emacs" / "test-eglot.el")]
    proc = subprocess.run(cmd, env=env, cwd=file.parent, capture_output=True, text=True,
                          timeout=server.timeout_s + 60, stdin=subprocess.DEVNULL)
    assert result.exists(), f"emacs wrote no report (rc={proc.returncode}): {proc.stderr[-3000:]}"
    report = json.loads(result.read_text())
    assert report.get("error") is None, f"{report['error']}\nreport: {report}\nstderr: {proc.stderr[-3000:]}"
    return report


def test_emacs_eglot(server: ServerUnderTest, sample_file: Path) -> None:
    report = run_emacs(server, sample_file)
    assert report["connected"] is True
    candidates = report["candidates"]
    assert candidates and all(c.strip() for c in candidates), report
    if server.expected is not None:
        assert server.expected in candidates
    # completion-at-point inserted a candidate (the only one) or at least its common prefix.
    inserted = report["line_after"][len(report["line_before"]):]
    assert report["line_after"].startswith(report["line_before"]) and inserted, report
    assert any(c.startswith(inserted) for c in candidates), report
    if len(candidates) == 1:
        assert inserted == candidates[0]
    assert ACTIONS <= set(report["action_titles"]), report
    assert "initialize" in report["sent"] and "textDocument/completion" in report["sent"]
    assert "workspace/executeCommand" in report["sent"]


def test_emacs_snippets_read(tmp_path: Path) -> None:
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
