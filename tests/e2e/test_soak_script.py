"""`bench/soak.py` on a short run: a real stdio session with the bundled model, the server's
own memory figures sampled through `distill.status` along the way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_soak_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, "bench/soak.py", "--requests", "24", "--warmup", "4", "--sample-every", "10",
                          "--threads", "1", "--set", "debounceMs=0", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert run.returncode in (0, 1), run.stderr  # 1: a target missed (24 requests are too few to judge)
    report = json.loads(out.read_text())
    assert report["requests"] == 24 and report["exit_code"] == 0
    assert report["threads_end"] == report["threads_after_warmup"] > 0
    assert report["with_suggestion"] > 0 and report["p95_first_ms"] > 0
    series = report["memory_series"]
    assert [point["request"] for point in series] == [4, 10, 20]
    # one document: its key/value cache, and at most one more for its speculation
    assert all(point["rssMiB"] > 100 and point["heapInUseMiB"] > 0 and point["prefixEntries"] in (1, 2)
               for point in series)
    assert "request=10  rssMiB=" in run.stdout and ("targets met" in run.stdout or "TARGETS MISSED" in run.stdout)
