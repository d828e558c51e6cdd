"""Soak: N inline completions in a typing simulation against the bundled model, through a
real stdio session of `distill-lsp serve`, watching the server process for leaks.

    python bench/soak.py [--requests 5000] [--max-new-tokens 4] [--json out.json]

The document opens with the first `--preload` characters of a Python file (prompts are at
the context budget from the start). One character is typed (an incremental didChange), then an automatic inline completion
is asked for at the cursor and awaited, as an editor showing ghost text does; the text
typed cycles through a Python file, and the document starts over at the end of it.
Reported: resident memory (RSS) after warm-up vs at the end, thread count at both
points, and the p95 latency of the first vs the last 1,000 requests (a fifth of N when N
is small). The issue's targets: RSS growth under 5 %, no thread growth, last p95 within
1.2x of the first. Exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "server" / "distill_lsp" / "completion" / "rules.py"
_HEADER = re.compile(rb"Content-Length: (\d+)\r\n")


class Session:
    """A raw LSP client for one `distill-lsp serve` subprocess."""

    def __init__(self, options: dict[str, Any]) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "server"))
        self.proc = subprocess.Popen([sys.executable, "-m", "distill_lsp", "serve", "--log-level", "warning"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd=ROOT)
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send({"id": 0, "method": "initialize", "params": {
            "processId": os.getpid(), "rootUri": None, "capabilities": {}, "initializationOptions": options}})
        self.wait_for(lambda m: m.get("id") == 0)
        self.send({"method": "initialized", "params": {}})
        status = self.wait_for(lambda m: m.get("method") == "distill/status", 600)["params"]
        if status["state"] != "ready":
            raise SystemExit(f"model not ready: {status}")

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while header := out.readline():
            match = _HEADER.fullmatch(header)
            if match is None:
                continue
            out.readline()
            self.inbox.put(json.loads(out.read(int(match.group(1)))))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.proc.stdin.flush()

    def wait_for(self, pred, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.inbox.get(timeout=max(0.1, deadline - time.monotonic()))
            if pred(message):
                return message

    def close(self) -> int:
        self.send({"id": "bye", "method": "shutdown"})
        self.wait_for(lambda m: m.get("id") == "bye")
        self.send({"method": "exit"})
        return self.proc.wait(10)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cursor(text: str) -> dict[str, int]:
    lines = text.split("\n")
    return {"line": len(lines) - 1, "character": utf16(lines[-1])}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def server_status(session: Session, key: str) -> dict[str, Any]:
    """The server's own figures (`distill.status`); its memory: RSS, the C heap split into live
    and free, mmap chunks, Python's allocated blocks."""
    session.send({"id": key, "method": "workspace/executeCommand", "params": {"command": "distill.status"}})
    reply = session.wait_for(lambda m: m.get("id") == key)
    if "result" not in reply:
        raise SystemExit(f"distill.status failed: {reply.get('error')}")
    return reply["result"]


def run(n: int, max_new_tokens: int, warmup: int, threads: int = 0, preload: int = 3000,
        sample_every: int = 0, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    session = Session({"profile": "greedy", "maxNewTokens": max_new_tokens, "contextTokens": 512,
                       "threads": threads, **(extra or {})})
    server = psutil.Process(session.proc.pid)
    source = SOURCE.read_text()
    # the document starts with `preload` characters, so prompts are at the context budget
    # from the first request (memory after warm-up is then the steady state, not a prompt
    # still growing); typing goes on from there and starts over at the same point
    base = source[:source.rfind("\n", 0, preload) + 1] if preload else ""
    uri = "file:///soak/typing.py"
    session.send({"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": base}}})
    text, version, latencies, answered = base, 1, [], 0
    rss0 = threads0 = 0
    series: list[dict[str, Any]] = []
    for i in range(n):
        version += 1
        if len(text) >= len(source):  # start over from the preloaded part
            text = base
            change: dict[str, Any] = {"text": base}
        else:
            at = cursor(text)
            change = {"range": {"start": at, "end": at}, "text": source[len(text)]}
            text += source[len(text)]
        session.send({"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}})
        started = time.perf_counter()
        session.send({"id": i + 1, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": uri}, "position": cursor(text), "context": {"triggerKind": 2}}})
        reply = session.wait_for(lambda m, k=i + 1: m.get("id") == k)
        latencies.append(time.perf_counter() - started)
        answered += bool(reply.get("result", {}).get("items"))
        if i + 1 == warmup:
            rss0, threads0 = server.memory_info().rss, server.num_threads()
        if sample_every and ((i + 1) % sample_every == 0 or i + 1 == warmup):
            status = server_status(session, f"status-{i + 1}")
            cache = status.get("prefixCache") or {}
            series.append({"request": i + 1, **status["memory"],
                           "prefixEntries": cache.get("entries"), "prefixMiB": cache.get("mib")})
            top = series[-1].pop("pythonAllocationGrowth", None)
            print("  ".join(f"{k}={v}" for k, v in series[-1].items()), flush=True)
            for site in top or []:
                print("    ", site, flush=True)
    rss1, threads1 = server.memory_info().rss, server.num_threads()
    code = session.close()
    window = min(1000, max(1, n // 5))
    first, last = p95(latencies[warmup:warmup + window]), p95(latencies[-window:])
    return {
        "requests": n, "with_suggestion": answered, "warmup": warmup, "window": window,
        "rss_after_warmup_mb": round(rss0 / 2**20, 1), "rss_end_mb": round(rss1 / 2**20, 1),
        "rss_growth_pct": round(100 * (rss1 - rss0) / rss0, 2),
        "threads_after_warmup": threads0, "threads_end": threads1,
        "p95_first_ms": round(1000 * first, 1), "p95_last_ms": round(1000 * last, 1),
        "p95_ratio": round(last / first, 3), "exit_code": code,
        **({"memory_series": series} if series else {}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--max-new-tokens", type=int, default=4)
    parser.add_argument("--warmup", type=int, help="requests before the baseline (default: N/10, at most 200)")
    parser.add_argument("--preload", type=int, default=3000,
                        help="characters of the file already in the document at the start")
    parser.add_argument("--threads", type=int, default=0, help="the server's threads setting (0: physical cores)")
    parser.add_argument("--sample-every", type=int, default=0,
                        help="every this many requests, print the server's own memory figures (distill.status)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="another server setting, e.g. --set prefixCacheMB=0 (repeatable)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else max(1, min(200, args.requests // 10))
    report = run(args.requests, args.max_new_tokens, warmup, args.threads, args.preload, args.sample_every,
                 {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)})
    for key, value in report.items():
        if key == "memory_series":
            continue
        print(f"{key:>22}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    ok = report["rss_growth_pct"] < 5 and report["threads_end"] <= report["threads_after_warmup"] \
        and report["p95_ratio"] <= 1.2 and report["exit_code"] == 0
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
