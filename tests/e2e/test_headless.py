"""The headless `distill-lsp complete` command, run as a subprocess."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import UNFINISHED_PY


def test_complete_prints_a_completion(tmp_path) -> None:
    source = tmp_path / "fib.py"
    source.write_text(UNFINISHED_PY + "\n")
    line = UNFINISHED_PY.count("\n") + 1
    proc = subprocess.run(
        [sys.executable, "-m", "distill_lsp", "complete", f"{source}:{line}:5", "--profile", "greedy",
         "--max-new-tokens", "24", "--verbose"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip()
    assert "model load:" in proc.stderr and "ttft_ms=" in proc.stderr


def test_complete_prints_the_suggestion_and_a_few_lines_of_timing(tmp_path) -> None:
    """What the README's first command shows: no server log unless --verbose."""
    source = tmp_path / "fib.py"
    source.write_text(UNFINISHED_PY + "\n")
    line = UNFINISHED_PY.count("\n") + 1
    proc = subprocess.run([sys.executable, "-m", "distill_lsp", "complete", f"{source}:{line}:5",
                           "--max-new-tokens", "24"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) <= 4 and lines[0].startswith("model load:") and lines[-1].startswith("round trip:"), lines
    assert any("ttft_ms=" in line for line in lines) and "DEBUG" not in proc.stderr


def test_complete_reports_bad_locations(tmp_path) -> None:
    source = tmp_path / "a.py"
    source.write_text("x = 1\n")
    proc = subprocess.run([sys.executable, "-m", "distill_lsp", "complete", f"{source}:9:1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "past the end" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "distill_lsp", "complete", "nofile"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "FILE:LINE:COL" in proc.stderr
