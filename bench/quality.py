"""Hole-cutting quality benchmark: distill-lsp over a real LSP session vs a naive baseline.

Cases are cut, seeded, into the Python standard library and an npm package (see
`bench.cases`). For each case the server (`python -m distill_lsp serve`, this checkout)
gets the document with the hole and a `textDocument/inlineCompletion` request at the
cursor; the naive baseline (`bench.baseline`) gets the plain prefix, in this process, with
the same model, profile and token limit. Prints a markdown table, ours vs baseline, overall,
per kind and per language; `--json` writes it with every case.

    PYTHONPATH=server python -m bench.quality --cases 300 --seed 0 --json bench-out.json
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "server"):  # this checkout's server, even when another one is installed
    if str(_path) not in sys.path[:2]:
        sys.path.insert(0, str(_path))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from distill_lsp.headless import close_session, open_session  # noqa: E402
from distill_lsp.settings import env_layer, resolve  # noqa: E402

from bench.baseline import NaiveBaseline  # noqa: E402
from bench.cases import MAX_BLOCK_LINES, Case, generate_cases  # noqa: E402
from bench.metrics import Outcome, edit_similarity, exact_match, markdown_table, slices  # noqa: E402
from bench.session import ask  # noqa: E402
from bench.sources import NPM_PACKAGE, sources_for  # noqa: E402

logger = logging.getLogger("bench.quality")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=300, help="number of cases (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--languages", default="python,javascript", help="comma-separated: python, javascript")
    p.add_argument("--json", type=Path, help="write the summary and every case here")
    p.add_argument("--dump", type=Path, help="write every case readably here: cursor line, expected, ours, naive")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--profile", default="greedy")
    p.add_argument("--model", help="model setting for both systems (default: the server's `auto`)")
    p.add_argument("--device", help="device setting for both systems")
    p.add_argument("--max-block-lines", type=int, default=MAX_BLOCK_LINES)
    p.add_argument("--trigger", choices=("automatic", "invoked"), default="automatic",
                   help="inline completion trigger kind sent to the server (default automatic, as ghost text)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request, and for the model to load")
    p.add_argument("--python-lib", type=Path, help="stdlib directory (default: this interpreter's)")
    p.add_argument("--npm-package", default=NPM_PACKAGE, help="npm package spec installed into bench/.npm")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="another server setting, e.g. --set retries=0 (repeatable)")
    p.add_argument("--verbose", action="store_true", help="the server's log on stderr")
    return p.parse_args(argv)


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """initializationOptions for the server; the baseline resolves the same ones."""
    options: dict[str, Any] = {"profile": args.profile, "maxNewTokens": args.max_new_tokens,
                               "maxLines": args.max_block_lines}
    if args.model:
        options["model"] = args.model
    if args.device:
        options["device"] = args.device
    for item in args.set:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    return options


def load_cases(args: argparse.Namespace) -> list[Case]:
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    files = {lang: sources_for(lang, args.python_lib, args.npm_package) for lang in languages}
    return generate_cases(files, args.cases, args.seed, args.max_block_lines)


async def run(cases: list[Case], args: argparse.Namespace) -> dict[str, Any]:
    options = server_options(args)
    settings, problems = resolve(env_layer(), options)
    if problems:
        raise SystemExit(f"bad options: {'; '.join(problems)}")
    loading = asyncio.create_task(asyncio.to_thread(NaiveBaseline, settings))
    client = await open_session(options, args.verbose, args.timeout)
    try:
        baseline = await loading
        status = client.session.status.result()
        if status.get("model") != baseline.model_name:
            logger.warning("server model %s differs from baseline model %s", status.get("model"), baseline.model_name)
        await _warm_up(client, baseline, cases[0].language, args)
        rows, outcomes, started = [], [], time.perf_counter()
        for index, case in enumerate(cases):
            row, trio = await _one_case(client, baseline, case, index, args)
            rows.append(row)
            outcomes += trio
            _progress(index, len(cases), case, trio)
        seconds = time.perf_counter() - started
    finally:
        await close_session(client)
    return {"config": _config(args, options, status), "seconds": seconds,
            "seconds_per_case": seconds / len(cases), "errors": sum(1 for r in rows if r["ours"].get("error")),
            "slices": slices(outcomes), "cases": rows}


WARM_UP = {"python": "def mean(values):\n    total = sum(values)\n    return ",
           "javascript": "function mean(values) {\n  const total = values.reduce((a, b) => a + b, 0);\n  return "}


async def _warm_up(client: Any, baseline: NaiveBaseline, language: str, args: argparse.Namespace) -> None:
    """One request each on a document of its own, so first-call costs stay out of the numbers."""
    text = WARM_UP[language]
    case = Case("warm-up", language, "mid_line", f"/warm-up.{'py' if language == 'python' else 'js'}",
                text.count("\n"), len(text), len(text), text)
    await ask(client, case, 9999, args.trigger == "automatic", args.timeout)
    await asyncio.to_thread(baseline.complete, case.prefix, 1)


async def _one_case(client: Any, baseline: NaiveBaseline, case: Case, index: int,
                    args: argparse.Namespace) -> tuple[dict[str, Any], list[Outcome]]:
    error = ""
    try:
        ours, ours_ms = await ask(client, case, index, args.trigger == "automatic", args.timeout)
    except TimeoutError:
        ours, ours_ms, error = "", args.timeout * 1000, "timeout"
    except Exception as exc:  # a JSON-RPC error answer: counted, and the run goes on
        ours, ours_ms, error = "", 0.0, f"{type(exc).__name__}: {exc}"
    base = await asyncio.to_thread(baseline.complete, case.prefix, case.target_lines)
    trio = [Outcome("ours", case.language, case.kind, ours, case.target, ours_ms),
            Outcome("baseline", case.language, case.kind, base.raw, case.target, base.raw_ms),
            Outcome("baseline_cut", case.language, case.kind, base.cut, case.target, base.cut_ms)]
    row = {**case.describe(), "ours": _scored(trio[0], error), "baseline": _scored(trio[1], ""),
           "baseline_cut": _scored(trio[2], "")}
    return row, trio


def _scored(outcome: Outcome, error: str) -> dict[str, Any]:
    scored = {"text": outcome.prediction, "ms": round(outcome.latency_ms, 1),
              "exact": exact_match(outcome.prediction, outcome.target),
              "similarity": round(edit_similarity(outcome.prediction, outcome.target), 4)}
    return {**scored, "error": error} if error else scored


def _progress(index: int, total: int, case: Case, trio: list[Outcome]) -> None:
    ours, base, cut = trio
    print(f"[{index + 1:4d}/{total}] {case.id:<48} ours {ours.similarity:.2f} {ours.latency_ms:6.0f} ms"
          f" | base {base.similarity:.2f} {base.latency_ms:6.0f} ms | cut {cut.similarity:.2f}",
          file=sys.stderr, flush=True)


def _config(args: argparse.Namespace, options: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {"cases": args.cases, "seed": args.seed, "languages": args.languages, "options": options,
            "trigger": args.trigger, "max_block_lines": args.max_block_lines, "npm_package": args.npm_package,
            "python": platform.python_version(), "model": status.get("model"), "device": status.get("device")}


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def dump_case(case: Case, row: dict[str, Any]) -> str:
    """One case for a reader: where the cursor is, what was cut, what each system answered."""
    line = case.document[case.document.rfind("\n", 0, case.start) + 1:case.start]
    after = case.document[case.start:].split("\n", 2)[:2]
    ours, base, cut = row["ours"], row["baseline"], row["baseline_cut"]
    error = f"  error: {ours['error']}" if ours.get("error") else ""
    return (f"===== {case.id} ({case.kind})\n"
            f"cursor line: {line!r}  then {after!r}\n"
            f"expected: {case.target!r}\n"
            f"ours    : {ours['text']!r}  ES {ours['similarity']:.2f}{error}\n"
            f"naive   : {base['text']!r}  ES {base['similarity']:.2f}\n"
            f"naive cut: {cut['text']!r}  ES {cut['similarity']:.2f}\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "server"), os.environ.get("PYTHONPATH")]))
    cases = load_cases(args)
    report = asyncio.run(run(cases, args))
    print(f"\n{report['config']['model']} on {report['config']['device']}, {len(cases)} cases, seed {args.seed}, "
          f"{report['seconds_per_case']:.2f} s per case (both systems), {report['errors']} errors\n")
    print(markdown_table(report["slices"]))
    if args.dump:
        args.dump.write_text("\n".join(dump_case(c, row) for c, row in zip(cases, report["cases"])), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(_no_nan(report), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
