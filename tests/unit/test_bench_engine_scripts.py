"""The engine benchmarks run: bench/gpu.py on a tiny config on the CPU (what a lent GPU
runs at full size), and bench/latency.py's pure helpers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_bench_runs_on_a_small_config() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--small", "--device", "cpu",
                           "--prompt", "120", "--tokens", "16", "--typing", "6", "--skip-compile"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "| plain generate (eager, dynamic cache) |" in out and "| ours (eager decode loop, lean step) |" in out
    assert "typing simulation (6 requests" in out
    # each typing request reuses the previous prompt's cache
    reused = int(out.split("reused ")[1].split(" ")[0])
    assert reused >= 100


def test_latency_trace_parsing_and_percentiles() -> None:
    sys.path.insert(0, str(ROOT))
    from bench import latency

    class Client:
        class session:
            traces = ["r1: profile=greedy prompt_tokens=900 reused=899 new_tokens=12 context_ms=3 ttft_ms=41 "
                      "total_ms=300 ok", "unrelated"]

    assert latency.trace_figures(Client) == [{"prompt_tokens": 900, "reused": 899, "new_tokens": 12,
                                              "context_ms": 3, "ttft_ms": 41, "total_ms": 300}]
    assert latency.pct([5, 1, 3, 2, 4], 0.5) == 3 and latency.pct([1, 2, 3], 0.95) == 3
    assert len(latency.TYPED) >= 40  # the 40-character line


def test_accept_chain_files_end_at_a_top_level_definition_and_parse() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.accept_chain import FILES, chain_text
    from distill_lsp.context.languages import detect_language
    from distill_lsp.context.trees import IncrementalParser

    lang = detect_language("python", "x.py")
    for name, start in FILES:
        text = chain_text(name, start)
        assert text.endswith("\n\n\n" + start)
        tree = IncrementalParser().parse(lang, text[:-len(start)])
        assert not tree.root_node.has_error, name  # nothing left open before the new function
