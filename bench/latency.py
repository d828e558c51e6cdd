"""Latency of the engine on the bundled model, every figure side by side in one run.

    python -m bench.latency [--prompts 4] [--tokens 64] [--keystrokes 40] [--skip-start]

1. Decode, in this process: a plain float32 ``model.generate`` vs the server's backend
   (our decode loop, default settings: weight-only quantization and the lean decode
   step) on the same prompts and lengths, greedy; tokens/s, their ratio, and how often
   the backend's tokens agree with the float32 reference (first 64 tokens, position by
   position, and teacher-forced next-token agreement).
2. A real stdio LSP session (``distill-lsp serve``): a cold request vs the same request
   after a one-character edit (the server's prompt time from its trace, and round
   trips); then a typing simulation: a 40-character line typed at 30 ms a keystroke, an
   automatic request per keystroke, the previous one cancelled as editors do; the
   latency of the answers the user would see, the final answer vs a cold request, and
   stale answers (an answer for a document version the user has already left). Run for
   each debounce setting given (``--debounce 0,60``).
3. First start (empty converted-model cache) vs cached start, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
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

PROMPT_FILES = ("json/decoder.py", "textwrap.py", "argparse.py", "csv.py", "heapq.py", "shlex.py")
TRACE = re.compile(r"prompt_tokens=(\d+) reused=(\d+) new_tokens=(\d+) context_ms=(\d+) ttft_ms=(\d+) total_ms=(\d+)")


def stdlib_prompts(n: int, tokenizer: Any, length: int = 300) -> list[list[int]]:
    """`n` prompts of `length` tokens cut from standard-library sources (real code)."""
    lib = Path(os.__file__).parent
    prompts = []
    for name in PROMPT_FILES[:n]:
        ids = tokenizer((lib / name).read_text()).input_ids
        start = min(len(ids) - length, 2000)
        prompts.append(ids[start:start + length])
    return prompts


def decode_section(n_prompts: int, tokens: int, threads: int) -> dict[str, Any]:
    import torch

    from distill_lsp.engine.loader import load_model
    from distill_lsp.engine.local import LocalBackend
    from distill_lsp.engine.resolve import resolve_model
    from distill_lsp.engine.types import GenerationRequest
    from distill_lsp.profiles import SamplingProfile
    from distill_lsp.settings import Settings

    torch.set_num_threads(threads)
    loaded = load_model(resolve_model("auto", "cpu"), device="cpu", cache_dir=Settings().resolved_cache_dir())
    reference = loaded.model
    ours = LocalBackend(dataclass_copy(loaded, copy.deepcopy(reference)), threads=threads,
                        quantize=Settings().quantize)
    ours.eos_ids = []  # the same length on both sides
    greedy = SamplingProfile("greedy", do_sample=False, repetition_penalty=1.0)
    rows = []
    for ids in stdlib_prompts(n_prompts, loaded.tokenizer):
        x = torch.tensor([ids])
        with torch.inference_mode():
            t0 = time.perf_counter()
            reference.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=1, do_sample=False)
            t1 = time.perf_counter()
            out = reference.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=tokens,
                                     min_new_tokens=tokens, do_sample=False)
            t2 = time.perf_counter()
        ref_ids = out[0, len(ids):].tolist()
        plain_tps = (tokens - 1) / max(1e-9, (t2 - t1) - (t1 - t0))
        result = ours.generate(GenerationRequest(list(ids), greedy, tokens))
        ours_tps = (result.new_tokens - 1) / max(1e-9, result.total_s - result.time_to_first_token_s)
        agree = sum(a == b for a, b in zip(result.token_ids, ref_ids)) / tokens
        with torch.inference_mode():
            full = torch.tensor([ids + ref_ids])
            want = reference(input_ids=full).logits[0, len(ids) - 1:-1].argmax(-1)
            got = ours.model(input_ids=full).logits[0, len(ids) - 1:-1].argmax(-1)
        forced = float((want == got).float().mean())
        rows.append({"plain_tps": plain_tps, "ours_tps": ours_tps, "plain_prompt_s": t1 - t0,
                     "ours_prompt_s": result.time_to_first_token_s, "agree64": agree, "forced": forced})
    return {"quantization": ours.info.quantization, "rows": rows}


def dataclass_copy(loaded: Any, model: Any) -> Any:
    import dataclasses

    return dataclasses.replace(loaded, model=model)


def print_decode(d: dict[str, Any]) -> None:
    rows = d["rows"]
    print(f"\n## Decode on the bundled model (in process; ours: {d['quantization']})\n")
    print("| prompt | plain fp32 generate tok/s | ours tok/s | ratio | prompt s plain / ours | agree first 64 | teacher-forced |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for i, r in enumerate(rows):
        print(f"| {PROMPT_FILES[i]} | {r['plain_tps']:.1f} | {r['ours_tps']:.1f} | {r['ours_tps'] / r['plain_tps']:.2f}x "
              f"| {r['plain_prompt_s']:.2f} / {r['ours_prompt_s']:.2f} | {r['agree64']:.0%} | {r['forced']:.1%} |")
    plain = statistics.mean(r["plain_tps"] for r in rows)
    ours = statistics.mean(r["ours_tps"] for r in rows)
    print(f"| **mean** | {plain:.1f} | {ours:.1f} | **{ours / plain:.2f}x** | | "
          f"**{statistics.mean(r['agree64'] for r in rows):.0%}** | {statistics.mean(r['forced'] for r in rows):.1%} |")


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
    options = {"profile": "greedy", "maxNewTokens": args.lsp_tokens, "threads": args.threads}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads in this process (0: physical cores)")
    parser.add_argument("--lsp-tokens", type=int, default=24, help="maxNewTokens of the LSP requests")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keystrokes", type=int, default=40)
    parser.add_argument("--debounce", default="0,60", help="debounceMs values for the typing simulation")
    parser.add_argument("--skip-decode", action="store_true")
    parser.add_argument("--skip-start", action="store_true")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args()
    args.debounce = [int(x) for x in args.debounce.split(",")]
    if not args.threads:
        from distill_lsp.engine.factory import physical_cores

        args.threads = physical_cores()
    figures: dict[str, Any] = {}
    if not args.skip_decode:
        figures["decode"] = decode_section(args.prompts, args.tokens, args.threads)
        print_decode(figures["decode"])
    figures["lsp"] = asyncio.run(lsp_section(args))
    print_lsp(figures["lsp"], args.debounce)
    if not args.skip_start:
        figures["start"] = asyncio.run(start_section(args.threads))
        print_start(figures["start"])
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
