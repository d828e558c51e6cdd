"""Latency of the engine on the bundled model, every figure side by side in one run.

    python -m bench.latency [--isa native|avx2|avx512] [--prompts 4] [--tokens 64] [--skip-start]

``--isa`` re-runs the whole benchmark as if on that class of CPU (`bench.isa`); the class
is printed at the top either way.

1. Engine speed, in this process (`bench.engine_speed`): plain PyTorch fp32, ours with
   its default settings, and llama.cpp on the same GGUF: cold prompts of 300 and 1,500
   tokens, greedy decoding, agreement with fp32.
2. End to end, real LSP sessions with default settings on real files: ours (the model in
   the server) vs the same server with ``backend: openai`` against llama-cpp-python's
   server (`e2e_section`), every request on a document of its own.
3. A real stdio LSP session (``distill-lsp serve``): a cold request vs the same request
   after a one-character edit (the server's prompt time from its trace, and round
   trips); then a typing simulation: a 40-character line typed at 30 ms a keystroke, an
   automatic request per keystroke, the previous one cancelled as editors do; the
   latency of the answers the user would see, the final answer vs a cold request, and
   stale answers (an answer for a document version the user has already left). Run for
   each debounce setting given (``--debounce 0,60``).
4. First start (empty converted-model cache) vs cached start, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from distill_lsp.headless import close_session, open_session  # noqa: E402

from bench import engine_speed, isa, llama_cpp  # noqa: E402

TRACE = re.compile(r"prompt_tokens=(\d+) reused=(\d+) new_tokens=(\d+) context_ms=(\d+) ttft_ms=(\d+) total_ms=(\d+)")


# ---- LSP session -------------------------------------------------------------------------

DOC = (Path(os.__file__).parent / "textwrap.py").read_text().split("\n")[:120]
TYPED = "        result = [chunk.strip() for chunk in chunks]"[:48]


def trace_figures(client: Any) -> list[dict[str, int]]:
    out = []
    for line in client.session.traces:
        m = TRACE.search(line)
        if m:
            keys = ("prompt_tokens", "reused", "new_tokens", "context_ms", "ttft_ms", "total_ms")
            out.append(dict(zip(keys, map(int, m.groups()))))
    return out


async def request(client: Any, uri: str, pos: types.Position, automatic: bool = False) -> tuple[Any, float]:
    kind = types.InlineCompletionTriggerKind.Automatic if automatic else types.InlineCompletionTriggerKind.Invoked
    t0 = time.perf_counter()
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=pos,
        context=types.InlineCompletionContext(trigger_kind=kind)))
    return result, (time.perf_counter() - t0) * 1000


def open_doc(client: Any, uri: str, text: str) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))


def change(client: Any, uri: str, version: int, line: int, col: int, char: str) -> None:
    at = types.Position(line, col)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(at, at), text=char)]))


async def edit_section(client: Any, repeats: int) -> dict[str, Any]:
    """Cold request on a fresh document vs the same request after a one-character edit."""
    cold, warm = [], []
    for i in range(repeats):
        uri = f"file:///bench/edit{i}.py"
        lines = DOC + ["", "def total(values):", "    "]
        open_doc(client, uri, "\n".join(lines))
        pos = types.Position(len(lines) - 1, 4)
        first, cold_rt = await request(client, uri, pos)
        # one character typed at the cursor, not the suggestion's first (that would be
        # answered from the typed-ahead cache without generating)
        shown = first.items[0].insert_text if first and first.items else ""
        char = "s" if shown.startswith("r") else "r"
        change(client, uri, 2, pos.line, 4, char)
        _, warm_rt = await request(client, uri, types.Position(pos.line, 5))
        figs = trace_figures(client)[-2:]
        cold.append((cold_rt, figs[0]))
        warm.append((warm_rt, figs[1]))
    return {"cold": cold, "warm": warm}


async def typing_section(client: Any, keystrokes: int, interval_s: float, tag: str) -> dict[str, Any]:
    """Type a line a keystroke at a time, a request per keystroke, cancelling the previous."""
    uri = f"file:///bench/typing-{tag}.py"
    lines = DOC + ["", "def wrap_all(chunks):", ""]
    open_doc(client, uri, "\n".join(lines))
    line = len(lines) - 1
    text = TYPED[:keystrokes]
    # the file has been open a while: one request already ran on it (its cold start is
    # the edit section's figure, not this one's)
    await request(client, uri, types.Position(line, 0), automatic=False)
    traced = len(trace_figures(client))
    shown, stale, answered = [], 0, 0
    state = {"version": 1}
    pending: list[asyncio.Task] = []

    async def one(version: int, col: int, msg_id: str) -> None:
        nonlocal stale, answered
        t0 = time.perf_counter()
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=types.Position(line, col),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
        try:
            result = await asyncio.wrap_future(client.protocol.send_request(
                types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id))
        except Exception:  # RequestCancelled: the next keystroke cancelled it
            return
        items = result.items if result else []
        answered += 1
        if items and items[0].insert_text:
            if version != state["version"]:
                stale += 1  # an answer for a document the user has left
            else:
                shown.append((time.perf_counter() - t0) * 1000)

    previous: str | None = None
    for col, char in enumerate(text):
        state["version"] += 1
        change(client, uri, state["version"], line, col, char)
        if previous is not None:  # as editors do: the request for the old text is cancelled
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=previous))
        previous = f"{tag}-{col}"
        pending.append(asyncio.create_task(one(state["version"], col + 1, previous)))
        await asyncio.sleep(interval_s)
    final_t0 = time.perf_counter()
    await asyncio.gather(*pending, return_exceptions=True)
    final_ms = (time.perf_counter() - final_t0) * 1000 + interval_s * 1000
    ran = trace_figures(client)[traced:]
    return {"shown": shown, "stale": stale, "answered": answered, "final_ms": final_ms,
            "requests": len(text), "generated": ran}


async def lsp_section(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    options = {"maxNewTokens": args.lsp_tokens, "threads": args.threads}
    for debounce in args.debounce:
        client = await open_session({**options, "debounceMs": debounce}, verbose=False, timeout=600)
        client.protocol.notify(types.SET_TRACE, types.SetTraceParams(types.TraceValue.Messages))
        try:
            if "edit" not in out:
                out["edit"] = await edit_section(client, args.repeats)
            out[f"typing{debounce}"] = await typing_section(client, args.keystrokes, 0.030, f"d{debounce}")
            out[f"typing{debounce}"]["cold_ms"] = statistics.median(c for c, _ in out["edit"]["cold"])
            out["peak_rss_mb"] = max(out.get("peak_rss_mb", 0), peak_rss_mb(client))
        finally:
            await close_session(client)
    return out


def peak_rss_mb(client: Any) -> float:
    pid = client._server.pid
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def print_lsp(d: dict[str, Any], debounces: list[int]) -> None:
    e = d["edit"]
    cold_ttft = statistics.median(f["ttft_ms"] for _, f in e["cold"])
    warm_ttft = statistics.median(f["ttft_ms"] for _, f in e["warm"])
    print("\n## One-character edit (real LSP session, median of the repeats)\n")
    print("| request | prompt tokens | reused | server prompt time (ttft) ms | round trip ms |")
    print("| --- | --- | --- | --- | --- |")
    for name, rows in (("cold (fresh document)", e["cold"]), ("after a 1-char edit", e["warm"])):
        print(f"| {name} | {statistics.median(f['prompt_tokens'] for _, f in rows):.0f} "
              f"| {statistics.median(f['reused'] for _, f in rows):.0f} "
              f"| {statistics.median(f['ttft_ms'] for _, f in rows):.0f} "
              f"| {statistics.median(rt for rt, _ in rows):.0f} |")
    print(f"\nprompt time after the edit / cold: **{warm_ttft / max(1, cold_ttft):.2f}**")
    print("\n## Typing simulation (30 ms a keystroke, a request per keystroke)\n")
    print("| debounceMs | requests | generated | answered | shown | stale shown | shown p50 ms | shown p95 ms "
          "| final answer ms | final / cold | prompt ms p50 / max | reused share |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for db in debounces:
        t = d[f"typing{db}"]
        gen = t["generated"]
        prompt_ms = [g["ttft_ms"] for g in gen]
        share = sum(g["reused"] for g in gen) / max(1, sum(g["prompt_tokens"] for g in gen))
        print(f"| {db} | {t['requests']} | {len(gen)} | {t['answered']} | {len(t['shown'])} | {t['stale']} "
              f"| {pct(t['shown'], .5):.0f} | {pct(t['shown'], .95):.0f} | {t['final_ms']:.0f} "
              f"| {t['final_ms'] / t['cold_ms']:.2f}x | {pct(prompt_ms, .5):.0f} / {max(prompt_ms, default=0):.0f} "
              f"| {share:.0%} |")
    print(f"\nserver peak RSS: {d['peak_rss_mb']:.0f} MiB")


async def start_section(threads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cache:
        saved = os.environ.get("DISTILL_LSP_CACHE_DIR")
        os.environ["DISTILL_LSP_CACHE_DIR"] = cache
        try:
            figures = {}
            for name in ("first", "cached"):
                t0 = time.perf_counter()
                client = await open_session({"threads": threads}, verbose=False, timeout=900)
                figures[name] = time.perf_counter() - t0
                figures[name + "_load"] = client.session.status.result().get("loadSeconds", 0.0)
                await close_session(client)
            return figures
        finally:
            if saved is None:
                os.environ.pop("DISTILL_LSP_CACHE_DIR", None)
            else:
                os.environ["DISTILL_LSP_CACHE_DIR"] = saved


def print_start(s: dict[str, float]) -> None:
    print("\n## Start (bundled model, start to ready through a real session)\n")
    print("| start | start to ready s | model load s (server) |")
    print("| --- | --- | --- |")
    print(f"| first (empty converted-model cache) | {s['first']:.1f} | {s['first_load']:.1f} |")
    print(f"| cached | {s['cached']:.1f} | {s['cached_load']:.1f} |")
    print(f"\nfirst / cached: {s['first'] / s['cached']:.1f}x")


async def e2e_section(args: argparse.Namespace) -> dict[str, list[float]]:
    """The same real-file requests through two servers with default settings: the model in
    the server, and `backend: openai` against llama-cpp-python's server (same GGUF, threads).
    Both get the CPU's prompt budget (a remote backend's default is larger: it is assumed to
    be a GPU), so the two engines answer the same prompts."""
    from distill_lsp.completion.prompt import CPU_PROMPT_TOKENS

    from bench.cases import generate_cases
    from bench.session import ask
    from bench.sources import sources_for

    cases = generate_cases({"python": sources_for("python")}, args.e2e_cases, seed=1)
    out: dict[str, list[float]] = {}
    with llama_cpp.server(args.threads) as url:
        systems = {"ours": {"threads": args.threads, "contextTokens": CPU_PROMPT_TOKENS},
                   "llama.cpp": {"backend": "openai", "endpoint": url, "tokenizer": "bundled",
                                 "contextTokens": CPU_PROMPT_TOKENS}}
        for name, options in systems.items():
            client = await open_session(options, verbose=False, timeout=600)
            try:
                out[name] = [(await ask(client, case, i, True, 120.0))[1] for i, case in enumerate(cases)]
            finally:
                await close_session(client)
    return out


def print_e2e(d: dict[str, list[float]]) -> None:
    print("\n## End to end: real LSP sessions, default settings, a fresh document per request (real files)\n")
    print("| server | requests | p50 ms | p95 ms |")
    print("| --- | --- | --- | --- |")
    for name, values in d.items():
        print(f"| {name} | {len(values)} | {pct(values, .5):.0f} | {pct(values, .95):.0f} |")
    print(f"\nours / llama.cpp-backed, p50: **{pct(d['ours'], .5) / pct(d['llama.cpp'], .5):.2f}x**")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--isa", default="native", choices=sorted(isa.CLASSES),
                        help="run as if on this class of CPU (default: the CPU as it is)")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in this process (0: physical cores)")
    parser.add_argument("--lsp-tokens", type=int, default=24, help="maxNewTokens of the LSP requests")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keystrokes", type=int, default=40)
    parser.add_argument("--debounce", default="0,60", help="debounceMs values for the typing simulation")
    parser.add_argument("--e2e-cases", type=int, default=12, help="real-file requests of the end-to-end section")
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-typing", action="store_true")
    parser.add_argument("--skip-start", action="store_true")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args()
    code = isa.rerun_as(args.isa, "bench.latency", sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    print(isa.describe())
    args.debounce = [int(x) for x in args.debounce.split(",")]
    if not args.threads:
        from distill_lsp.engine.factory import physical_cores

        args.threads = physical_cores()
    figures: dict[str, Any] = {}
    if not args.skip_engine:
        figures["engine"] = engine_speed.measure(args.prompts, args.tokens, args.threads)
        engine_speed.print_table(figures["engine"])
    if not args.skip_e2e:
        figures["e2e"] = asyncio.run(e2e_section(args))
        print_e2e(figures["e2e"])
    if not args.skip_typing:
        figures["lsp"] = asyncio.run(lsp_section(args))
        print_lsp(figures["lsp"], args.debounce)
    if not args.skip_start:
        figures["start"] = asyncio.run(start_section(args.threads))
        print_start(figures["start"])
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
