"""First start vs cached start, and completion latency, on the bundled model through a
real stdio LSP session (the headless client drives `distill-lsp serve`).

    python bench/startup.py [--requests 10]

Prints figures measured side by side in this one run: server start-to-ready with an empty
converted-model cache vs with the cache filled, the model load time the server reports,
and inline-completion round trips (the first request vs the following ones).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from lsprotocol import types

from distill_lsp.headless import close_session, open_session

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "fib.py"
OPTIONS = {"profile": "greedy", "maxNewTokens": 32}


async def start(cache: str) -> tuple[float, float, object]:
    os.environ["DISTILL_LSP_CACHE_DIR"] = cache
    t0 = time.perf_counter()
    client = await open_session(OPTIONS, verbose=False, timeout=600)
    return time.perf_counter() - t0, client.session.status.result()["loadSeconds"], client


async def completions(client, n: int) -> list[float]:
    text = EXAMPLE.read_text()
    uri = EXAMPLE.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    lines = text.split("\n")
    points = [types.Position(len(lines) - 2, 4), types.Position(6, 4), types.Position(8, 8)]
    times = []
    for i in range(n):
        pos = points[i % len(points)]
        t0 = time.perf_counter()
        await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=pos,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
        times.append(time.perf_counter() - t0)
        # a new document version each time, so no answer comes from the typed-ahead cache
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=i + 2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text + "\n" * (i + 1))]))
    return times


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        first_ready, first_load, client = await start(cache)
        await close_session(client)
        cached_ready, cached_load, client = await start(cache)
        try:
            times = await completions(client, requests)
        finally:
            await close_session(client)
    warm = sorted(times[1:])
    p50 = statistics.median(warm)
    p95 = warm[min(len(warm) - 1, round(0.95 * (len(warm) - 1)))]
    print("| measure | value |\n| --- | --- |")
    print(f"| first start (empty cache): start to ready | {first_ready:.2f} s (model load {first_load:.2f} s) |")
    print(f"| cached start: start to ready | {cached_ready:.2f} s (model load {cached_load:.2f} s) |")
    print(f"| cached / first start | {cached_ready / first_ready:.2f}x |")
    print(f"| first completion round trip | {times[0] * 1000:.0f} ms |")
    print(f"| later completions p50 / p95 (n={len(warm)}, 32 new tokens max, greedy) | "
          f"{p50 * 1000:.0f} ms / {p95 * 1000:.0f} ms |")
    print(f"| first / later p50 | {times[0] / p50:.2f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10)
    asyncio.run(main(parser.parse_args().requests))
