"""Accept chains, with speculation on and off, in one run (real LSP sessions, the bundled model).

    python -m bench.accept_chain [--isa native|avx2] [--chains 10] [--steps 10] [--think-ms 500,1500]

A chain opens a real file (the first lines of a standard-library module and the start of a
function), asks for an inline suggestion, and then, `--steps` times: waits the user's
reading time (`--think-ms`, each value a run of its own), accepts (inserts the item where it says and runs its command,
as an editor does) and asks again at the new cursor. A chain ends early when the answer is
empty. Each mode also runs the typing simulation of `bench.latency` (a request per
keystroke at 30 ms, the previous one cancelled) `--typing-runs` times, to confirm
speculation does not slow it (the medians over the runs are printed).

Printed side by side: the request after an accept (p50 / p95), the first request of each
chain (cold), tokens generated ahead per accept, engine time spent on speculations that
were thrown away, and the typing figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from distill_lsp.headless import close_session, open_session  # noqa: E402

from bench import isa  # noqa: E402
from bench.latency import pct, request, typing_section  # noqa: E402
from bench.session import status, utf16_offset, utf16_position  # noqa: E402

FILES = (("textwrap.py", "def indent_all(lines, prefix):\n    "), ("csv.py", "def read_rows(path):\n    "),
         ("heapq.py", "def top_items(items, n):\n    "), ("shlex.py", "def split_args(line):\n    "),
         ("json/encoder.py", "def encode_all(values):\n    "), ("argparse.py", "def parse_flags(argv):\n    "),
         ("fnmatch.py", "def match_any(name, patterns):\n    "), ("bisect.py", "def find_index(items, x):\n    "),
         ("difflib.py", "def changed_lines(a, b):\n    "), ("calendar.py", "def days_between(start, end):\n    "))


def chain_text(name: str, start: str) -> str:
    """The module's first top-level definitions (cut before the first one that starts past
    line 60, so no definition or string is left open), then the start of a new function."""
    lines = (Path(os.__file__).parent / name).read_text().split("\n")
    cut = next((i for i, line in enumerate(lines) if i >= 60 and line.startswith(("def ", "class "))), len(lines))
    return "\n".join(lines[:cut]).rstrip() + "\n\n\n" + start


async def one_chain(client: Any, index: int, steps: int, think_s: float) -> dict[str, Any]:
    name, start = FILES[index % len(FILES)]
    uri = f"file:///bench/chain{index}-{Path(name).stem}-{think_s:g}.py"
    text = chain_text(name, start)
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    result, cold_ms = await request(client, uri, utf16_position(text, len(text)))
    after: list[float] = []
    version = 1
    for _ in range(steps):
        item = result.items[0] if result is not None and result.items else None
        if item is None or not item.insert_text:
            break
        await asyncio.sleep(think_s)  # the user reads the suggestion
        version += 1
        offset = utf16_offset(text, item.range.start)
        text = text[:offset] + item.insert_text + text[utf16_offset(text, item.range.end):]
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=item.range, text=item.insert_text)]))
        if item.command is not None:
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command=item.command.command, arguments=item.command.arguments))
        cursor = utf16_position(text, offset + len(item.insert_text))
        result, ms = await request(client, uri, cursor, automatic=True)
        after.append(ms)
    return {"cold_ms": cold_ms, "after_ms": after}


async def run_mode(speculate: str, args: argparse.Namespace) -> dict[str, Any]:
    options = {"maxNewTokens": args.lsp_tokens, "threads": args.threads, "speculate": speculate}
    client = await open_session(options, verbose=False, timeout=600)
    out: dict[str, Any] = {}
    try:
        for think_ms in args.think_ms:
            before = (await status(client))["speculation"]
            chains = [await one_chain(client, i, args.steps, think_ms / 1000) for i in range(args.chains)]
            after = (await status(client))["speculation"]
            out[f"think{think_ms}"] = {"chains": chains,
                                       "speculation": {k: v - before[k] for k, v in after.items()
                                                       if isinstance(v, (int, float)) and not isinstance(v, bool)}}
        before = (await status(client))["speculation"]
        runs = [await typing_section(client, args.keystrokes, 0.030, f"spec-{speculate}-{i}")
                for i in range(args.typing_runs)]
        after = (await status(client))["speculation"]
        out["typing"] = {"shown_p50": pct([ms for r in runs for ms in r["shown"]], .5),
                         "final_ms": statistics.median(r["final_ms"] for r in runs),
                         "stale": sum(r["stale"] for r in runs), "runs": len(runs),
                         "wasted_s": after["wastedSeconds"] - before["wastedSeconds"],
                         "wasted": after["wasted"] - before["wasted"]}
    finally:
        await close_session(client)
    return out


def print_table(d: dict[str, dict[str, Any]], think: list[int]) -> None:
    print("\n## Accept chains (real LSP sessions): the request after an accept, speculation off and on\n")
    print("| user's reading time ms | speculate | accepts | after an accept p50 ms | p95 ms "
          "| cold (first of a chain) p50 ms | tokens ahead per accept | thrown-away speculation s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for think_ms in think:
        for mode, figures in d.items():
            run = figures[f"think{think_ms}"]
            after = [ms for chain in run["chains"] for ms in chain["after_ms"]]
            cold = [chain["cold_ms"] for chain in run["chains"]]
            spec = run["speculation"]
            ahead = (spec.get("usedTokens", 0) + spec.get("wastedTokens", 0)) / max(1, len(after))
            print(f"| {think_ms} | {mode} | {len(after)} | {pct(after, .5):.0f} | {pct(after, .95):.0f} "
                  f"| {pct(cold, .5):.0f} | {ahead:.1f} | {spec.get('wastedSeconds', 0):.1f} |")
    print("\n| typing simulation | speculate off | speculate on | on / off |")
    print("| --- | --- | --- | --- |")
    off, on = d["off"]["typing"], d["on"]["typing"]
    for key, name in (("shown_p50", f"shown p50 ms ({on['runs']} runs)"),
                      ("final_ms", f"final answer ms (median of {on['runs']} runs)")):
        print(f"| {name} | {off[key]:.0f} | {on[key]:.0f} | **{on[key] / max(1e-9, off[key]):.2f}x** |")
    print(f"| stale answers shown | {off['stale']} | {on['stale']} | |")
    print(f"| speculations thrown away (engine s) | {off['wasted']} ({off['wasted_s']:.1f}) "
          f"| {on['wasted']} ({on['wasted_s']:.1f}) | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--isa", default="native", choices=sorted(isa.CLASSES))
    parser.add_argument("--chains", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--think-ms", default="500,1500", help="the user's reading times to run, in ms")
    parser.add_argument("--typing-runs", type=int, default=5)
    parser.add_argument("--lsp-tokens", type=int, default=24)
    parser.add_argument("--keystrokes", type=int, default=40)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    code = isa.rerun_as(args.isa, "bench.accept_chain", sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    print(isa.describe())
    args.think_ms = [int(x) for x in args.think_ms.split(",")]
    if not args.threads:
        from distill_lsp.engine.factory import physical_cores

        args.threads = physical_cores()
    figures = {mode: asyncio.run(run_mode(mode, args)) for mode in ("off", "on")}
    print_table(figures, args.think_ms)


if __name__ == "__main__":
    main()
