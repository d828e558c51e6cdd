"""Vim (-es) + ALE with the shipped editors/vim/distill.vim: omni completion fills the server's suggestion."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from editor_harness import EDITORS, HERE, SAMPLE_LINE, ServerUnderTest, require_binary


def test_vim_ale_omni_completion(server: ServerUnderTest, sample_file: Path) -> None:
    result = sample_file.parent / "vim-result.json"
    env = server.env() | {
        "DISTILL_TEST_EDITORS": str(EDITORS),
        "DISTILL_TEST_CMD": shlex.join(server.cmd),
        "DISTILL_TEST_RESULT": str(result),
        "DISTILL_TEST_FILE": str(sample_file),
        "DISTILL_TEST_LINE": str(SAMPLE_LINE),
        "DISTILL_TEST_TIMEOUT": str(server.timeout_s),
        "HOME": str(sample_file.parent),
    }
    cmd = [require_binary("vim"), "-Nu", str(HERE / "vim" / "test.vim"), "-es"]
    proc = subprocess.run(cmd, env=env, cwd=sample_file.parent, capture_output=True, text=True,
                          timeout=server.timeout_s + 60, stdin=subprocess.DEVNULL)
    assert result.exists(), f"vim wrote no report (rc={proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    report = json.loads(result.read_text())
    assert report["error"] is None, report
    assert report["linters"] == ["distill_lsp"] and report["omnifunc"] == "ale#completion#OmniFunc", report
    words = [item["word"] for item in report["ale_completion_result"]]
    assert words and words[0].strip(), report
    # The first (or only) suggestion was inserted at the cursor.
    assert report["line_after"] == report["line_before"] + words[0], report
    if server.expected is not None:
        assert words == [server.expected]
