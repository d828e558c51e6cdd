"""`distill-lsp sweep` on the real bundled model, small N: table, JSON, plot, and the shape
of the curve (consistency at 0.2 at least that at 1.2 on a fixed seed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("setting", "temperature", "consistency", "distinct", "syntax errors", "mean length", "pass rate")


def test_sweep_cli_table_json_plot(tmp_path) -> None:
    out_json, out_png = tmp_path / "s.json", tmp_path / "s.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    done = subprocess.run(
        [sys.executable, "-m", "distill_lsp", "sweep", f"{ROOT}/tests/fixtures/sweep/is_even.py:3:21",
         "--samples", "4", "--temperatures", "0.2,1.2", "--seed", "0", "--max-new-tokens", "12",
         "--threads", "1", "--check", str(ROOT / "tests/fixtures/sweep/is_even_check.py"),
         "--json", str(out_json), "--plot", str(out_png)],
        capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    header, rule, *rows = done.stdout.strip().split("\n")
    assert [c.strip() for c in header.strip("|").split("|")] == list(COLUMNS)
    assert len(rows) == 2 and rows[0].startswith("| 0.2 |") and rows[1].startswith("| 1.2 |")
    assert "sample" in done.stderr  # the progress bar
    data = json.loads(out_json.read_text())
    low, high = data["settings"]
    assert low["samples"] == high["samples"] == 4 and len(low["answers"]) == 4
    assert low["consistency"] >= high["consistency"]
    for row in (low, high):
        assert 0 <= row["pass_rate"] <= 1 and 0 <= row["syntax_error_rate"] <= 1
        assert row["distinct"] == len(set(row["answers"]))
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 5000


def test_sweep_refuses_bad_arguments(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    done = subprocess.run([sys.executable, "-m", "distill_lsp", "sweep", "--samples", "2"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1 and "either FILE:LINE:COL or --prompt" in done.stderr
