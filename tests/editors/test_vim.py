"""Vim (-es) + ALE with the shipped editors/vim/distill.vim: omni completion fills the real server's suggestion."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from editor_harness import (EDITORS, HERE, SAMPLE_LINE, SENT_SETTINGS, ServerUnderTest,
                            assert_server_used_fast_settings, read_report, require_binary, write_sample)


def run_vim(server: ServerUnderTest, workdir: Path) -> dict[str, Any]:
    """Open the sample file in Vim + ALE with the test driver; return its report."""
    sample_file = write_sample(workdir)
    result = workdir / "vim-result.json"
    env = server.env() | {
        "DISTILL_TEST_EDITORS": str(EDITORS),
        "DISTILL_TEST_CMD": shlex.join(server.command(workdir)),
        "DISTILL_TEST_RESULT": str(result),
        "DISTILL_TEST_FILE": str(sample_file),
        "DISTILL_TEST_LINE": str(SAMPLE_LINE),
        "DISTILL_TEST_TIMEOUT": str(server.timeout_s),
        "HOME": str(workdir),
    }
    cmd = [require_binary("vim"), "-Nu", str(HERE / "vim" / "test.vim"), "-es"]
    proc = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True,
                          timeout=server.timeout_s + 90, stdin=subprocess.DEVNULL)
    return read_report(result, proc, "vim")


def check_omni_completion(report: dict[str, Any], server: ServerUnderTest) -> None:
    """<C-x><C-o> asked the server and filled the line with its first suggestion."""
    assert report["error"] is None, report
    assert report["settings"] == SENT_SETTINGS, report
    # The shipped config enables distill_lsp next to ALE's default python linters.
    assert "distill_lsp" in report["linters"] and report["omnifunc"] == "ale#completion#OmniFunc", report
    words = [item["word"] for item in report["ale_completion_result"]]
    assert words and words[0].strip(), report
    # The first (or only) suggestion was inserted at the cursor.
    assert report["line_after"] == report["line_before"] + words[0], report
    if server.expected is not None:
        assert words == [server.expected]


def test_vim_ale_omni_completion(server: ServerUnderTest, tmp_path: Path) -> None:
    check_omni_completion(run_vim(server, tmp_path), server)
    assert_server_used_fast_settings(server, tmp_path)
