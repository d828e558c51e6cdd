"""Hole-cutting quality benchmark: what a user of distill-lsp gets, against a naive server.

Cases are cut, seeded, into real code nobody here wrote, in five languages (`bench.sources`,
`bench.cases`), split by file into a tuning half and a held-out half. For each case the
server (`python -m distill_lsp serve`, this checkout, with its default settings unless
`--set` or `--profile` say otherwise) gets the document with the hole and a
`textDocument/inlineCompletion` request at the cursor. The naive server (`bench.baseline`)
runs plain transformers `generate` on the same model, in this process. Prints, per half,
markdown tables by mode and by language (quality beside latency) and, when the server
gives confidences, coverage against precision; `--json` writes it with every case.

    PYTHONPATH=server python -m bench.quality --cases 300 --half both --seed 0 --json bench-out.json
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
import subprocess  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from distill_lsp.headless import close_session, open_session  # noqa: E402
from distill_lsp.settings import env_layer, resolve  # noqa: E402

from bench import isa  # noqa: E402
from bench.baseline import NaiveAnswer, NaiveServer  # noqa: E402
from bench.cases import HALVES, MAX_BLOCK_LINES, Case, CaseError, cases_by_half  # noqa: E402
from bench.metrics import (RAW_NOTE, WHOLE_NOTE, Outcome, coverage, coverage_table, edit_similarity,  # noqa: E402
                           exact_match, kinds_of, languages_of, markdown_table, scored_part, slices)
from bench.session import ask, switch_folder  # noqa: E402
from bench.sources import LANGUAGES, SourceError, pinned, project_folder, sources_for, stdlib_copy  # noqa: E402

logger = logging.getLogger("bench.quality")

HALF_TITLES = {"tuning": "tuning half", "heldout": "held-out half"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=300, help="number of cases, shared out between the halves run "
                                                          "(default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--half", choices=(*HALVES, "both"), default="both",
                   help="which half of the files to cut cases from (default both, reported apart)")
    p.add_argument("--languages", default=",".join(LANGUAGES), help=f"comma-separated (default {','.join(LANGUAGES)})")
    p.add_argument("--json", type=Path, help="write the summary and every case here")
    p.add_argument("--dump", type=Path, help="write every case readably here: cursor line, expected, each answer")
    p.add_argument("--profile", help="the server's profile setting (default: not sent, the server's default)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="a server setting, also for the naive server where it applies (model, device, "
                        "maxNewTokens), e.g. --set maxLines=4 (repeatable; default: none, the server's defaults)")
    p.add_argument("--max-block-lines", type=int, default=MAX_BLOCK_LINES,
                   help="longest block target cut (cases only; the server is not told)")
    p.add_argument("--isa", default="native", choices=sorted(isa.CLASSES),
                   help="run both servers as if on this class of CPU (bench.isa; default: the CPU as it is)")
    p.add_argument("--naive-from", type=Path,
                   help="reuse the naive server's answers (and timings) of an earlier --json run of the same cases "
                        "instead of running it again (for tuning runs; a reported run runs both side by side)")
    p.add_argument("--no-naive-raw", dest="naive_raw", action="store_false",
                   help="stop the naive server once its shown answer is complete, with no raw column (faster)")
    p.add_argument("--trigger", choices=("automatic", "invoked"), default="automatic",
                   help="inline completion trigger kind sent to the server (default automatic, as ghost text)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request, and for the model to load")
    p.add_argument("--workspace", action="store_true",
                   help="open each case at its real path with its project as the workspace folder, as a user "
                        "editing that project would (the standard library is copied without site-packages); "
                        "default: a path of its own per case, no workspace folder")
    p.add_argument("--report", type=Path, metavar="JSON",
                   help="print the tables of a saved --json run again, scored by this checkout's rules (no server)")
    p.add_argument("--verbose", action="store_true", help="the server's log on stderr")
    return p.parse_args(argv)


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """initializationOptions for the server: only what was asked for; the naive server
    resolves the same ones."""
    options: dict[str, Any] = {"profile": args.profile} if args.profile else {}
    for item in args.set:
        key, _, value = item.partition("=")
        options[key] = json.loads(value)
    return options


def halves_of(args: argparse.Namespace) -> tuple[str, ...]:
    return HALVES if args.half == "both" else (args.half,)


def load_cases(args: argparse.Namespace) -> list[Case]:
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    files = {lang: sources_for(lang) for lang in languages}
    return cases_by_half(files, args.cases, args.seed, halves_of(args), args.max_block_lines)


def machine() -> dict[str, str]:
    """The CPU class the numbers were taken on: torch's kernel level, the variables that cap
    it, and the processor's model name."""
    import torch

    found = {"cpu_capability": str(torch.backends.cpu.get_cpu_capability())}
    for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS"):
        if os.environ.get(name):
            found[name] = os.environ[name]
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "")
    found["model_name"] = model or platform.processor() or "unknown"
    found["cores"] = str(os.cpu_count())
    return found


def by_project(cases: list[Case]) -> tuple[list[Case], list[Path]]:
    """The cases with a project's cases together (a stable sort: one index per project), and
    each one's project folder (`project_folder`)."""
    folders = [project_folder(c.language, Path(c.path)) for c in cases]
    pairs = sorted(zip(cases, folders), key=lambda pair: str(pair[1]))
    return [case for case, _ in pairs], [folder for _, folder in pairs]


def workspace_places(cases: list[Case], folders: list[Path], into: Path) -> list[tuple[Path, str]]:
    """Per case, its workspace folder and the uri of its file in it (the standard
    library's files in a copy under `into`)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    copy = stdlib_copy(into) if any(c.language == "python" for c in cases) else stdlib
    places = []
    for case, folder in zip(cases, folders):
        path = Path(case.path)
        if case.language == "python":
            path = copy / path.relative_to(stdlib)
            places.append((copy, path.as_uri()))
        else:
            places.append((folder, path.as_uri()))
    return places


async def run(cases: list[Case], args: argparse.Namespace, folders: list[Path] | None) -> dict[str, Any]:
    """Every case through both servers; with `folders` (`--workspace`), each case at its real
    path with its project folder as the workspace folder."""
    if folders is None:
        return await run_in(cases, args, None)
    with tempfile.TemporaryDirectory() as tmp:
        return await run_in(cases, args, workspace_places(cases, folders, Path(tmp)))


async def run_in(cases: list[Case], args: argparse.Namespace, places: list[tuple[Path, str]] | None
                 ) -> dict[str, Any]:
    options = server_options(args)
    settings, problems = resolve(env_layer(), options)
    if problems:
        raise SystemExit(f"bad options: {'; '.join(problems)}")
    stored = _stored_naive(args.naive_from, cases) if args.naive_from else None
    loading = asyncio.create_task(asyncio.to_thread(NaiveServer, settings)) if stored is None else None
    client = await open_session(options, args.verbose, args.timeout)
    try:
        naive = await loading if loading is not None else StoredNaive(stored or {})
        status = client.session.status.result()
        if status.get("model") != naive.model_name:
            logger.warning("server model %s differs from naive model %s", status.get("model"), naive.model_name)
        await _warm_up(client, naive, args)
        rows, outcomes, started, folder = [], [], time.perf_counter(), None
        for index, case in enumerate(cases):
            uri = ""
            if places is not None:
                new, uri = places[index]
                if new != folder:
                    await switch_folder(client, folder, new, options.get("workspaceContext", True))
                    folder = new
            row, found = await _one_case(client, naive, case, index, args, uri)
            rows.append(row)
            outcomes += found
            _progress(index, len(cases), case, found)
        seconds = time.perf_counter() - started
    finally:
        await close_session(client)
    config = {"cases": len(cases), "seed": args.seed, "halves": halves_of(args), "options": options,
              "max_new_tokens": settings.max_new_tokens, "naive_raw": args.naive_raw, "trigger": args.trigger,
              "max_block_lines": args.max_block_lines, "workspace": args.workspace, "python": platform.python_version(),
              "sources": {lang: pinned(lang) for lang in sorted({c.language for c in cases})},
              "model": status.get("model"), "device": status.get("device"), "machine": machine()}
    return {"config": config, "seconds": seconds, "seconds_per_case": seconds / len(cases),
            "errors": sum(1 for r in rows if r["ours"].get("error")),
            "halves": {half: half_report([o for o in outcomes if o.half == half]) for half in halves_of(args)},
            "cases": rows}


def half_report(outcomes: list[Outcome]) -> dict[str, Any]:
    """One half's slices and, when the server gave any confidence, its coverage table."""
    ours = [o for o in outcomes if o.system == "ours"]
    naive = [o for o in outcomes if o.system == "naive"]
    report: dict[str, Any] = {"slices": slices(outcomes), "kinds": kinds_of(outcomes),
                              "languages": languages_of(outcomes)}
    if any(o.confidence is not None for o in ours):
        report["coverage"] = coverage(list(zip(ours, naive)))
    return report


WARM_UP = "def mean(values):\n    total = sum(values)\n    return "


async def _warm_up(client: Any, naive: NaiveServer | StoredNaive, args: argparse.Namespace) -> None:
    """One request each on a document of its own, so first-call costs stay out of the numbers."""
    case = Case("warm-up", "python", "mid_line", "/warm-up.py", WARM_UP.count("\n"), len(WARM_UP), len(WARM_UP),
                WARM_UP)
    await ask(client, case, 9999, args.trigger == "automatic", args.timeout)
    if isinstance(naive, NaiveServer):
        await asyncio.to_thread(naive.complete, case.prefix, 1)


class StoredNaive:
    """The naive server's answers from an earlier run of the same cases (`--naive-from`)."""

    model_name = "(stored)"

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self.rows = rows

    def answer(self, case: Case) -> NaiveAnswer:
        row = self.rows[case.id]
        raw = row.get("naive_raw")
        return NaiveAnswer(row["naive"]["text"], row["naive"]["ms"], raw["text"] if raw else None,
                           raw["ms"] if raw else 0.0)


def _stored_naive(path: Path, cases: list[Case]) -> dict[str, dict[str, Any]]:
    rows = {row["id"]: row for row in json.loads(path.read_text(encoding="utf-8"))["cases"]}
    missing = [c.id for c in cases if c.id not in rows or rows[c.id]["target"] != c.target]
    if missing:
        raise SystemExit(f"{path} lacks {len(missing)} of these cases (e.g. {missing[0]}): run without --naive-from")
    return rows


async def _one_case(client: Any, naive: NaiveServer | StoredNaive, case: Case, index: int,
                    args: argparse.Namespace, uri: str) -> tuple[dict[str, Any], list[Outcome]]:
    error, confidence = "", None
    try:
        ours, ours_ms, confidence = await ask(client, case, index, args.trigger == "automatic", args.timeout, uri)
    except TimeoutError:
        ours, ours_ms, error = "", args.timeout * 1000, "timeout"
    except Exception as exc:  # a JSON-RPC error answer: counted, and the run goes on
        ours, ours_ms, error = "", 0.0, f"{type(exc).__name__}: {exc}"
    if isinstance(naive, StoredNaive):
        answer = naive.answer(case)
    else:
        answer = await asyncio.to_thread(naive.complete, case.prefix, case.target_lines, args.naive_raw)
    answers = {**case.describe(), "ours_whole": {"text": ours, "ms": ours_ms, "confidence": confidence},
               "naive": {"text": answer.shown, "ms": answer.shown_ms}}
    if answer.raw is not None:
        answers["naive_raw"] = {"text": answer.raw, "ms": answer.raw_ms}
    found = outcomes_of(answers)
    row = {**case.describe(), **{o.system: _scored(o, error if o.system == "ours" else "") for o in found}}
    return row, found


def outcomes_of(row: dict[str, Any]) -> list[Outcome]:
    """A case's outcomes from its row (a case's `describe()` with each system's text and ms):
    ours scored on its part (`scored_part`), the naive server's, ours whole and, when there is
    one, the naive server's raw answer. A saved row has ours whole as `ours_whole`; one saved
    before that column was kept has only `ours`, the whole answer."""
    ours, naive = row["ours_whole"] if "ours_whole" in row else row["ours"], row["naive"]
    language, kind, target, half = row["language"], row["kind"], row["target"], row["half"]
    confidence = ours.get("confidence")
    found = [Outcome("ours", language, kind, scored_part(ours["text"], target), target, ours["ms"], confidence, half),
             Outcome("naive", language, kind, naive["text"], target, naive["ms"], half=half),
             Outcome("ours_whole", language, kind, ours["text"], target, ours["ms"], confidence, half)]
    if "naive_raw" in row:
        found.append(Outcome("naive_raw", language, kind, row["naive_raw"]["text"], target, row["naive_raw"]["ms"],
                             half=half))
    return found


def _scored(outcome: Outcome, error: str) -> dict[str, Any]:
    scored: dict[str, Any] = {"text": outcome.prediction, "ms": round(outcome.latency_ms, 1),
                              "exact": exact_match(outcome.prediction, outcome.target),
                              "similarity": round(edit_similarity(outcome.prediction, outcome.target), 4)}
    if outcome.confidence is not None:
        scored["confidence"] = round(outcome.confidence, 4)
    return {**scored, "error": error} if error else scored


def _progress(index: int, total: int, case: Case, found: list[Outcome]) -> None:
    ours, naive, _, *raw = found
    print(f"[{index + 1:4d}/{total}] {case.id:<52} ours {ours.similarity:.2f} {ours.latency_ms:6.0f} ms"
          f" | naive {naive.similarity:.2f} {naive.latency_ms:6.0f} ms"
          + "".join(f" | raw {r.similarity:.2f}" for r in raw), file=sys.stderr, flush=True)


def render(report: dict[str, Any]) -> str:
    """The whole report as markdown: the machine, then per half the tables by mode and by
    language and, when there are confidences, coverage against precision."""
    config = report["config"]
    cpu = config["machine"]
    caps = "".join(f", {k}={cpu[k]}" for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if k in cpu)
    out = [f"CPU: {cpu['model_name']} ({cpu['cores']} cores), torch CPU capability {cpu['cpu_capability']}{caps}",
           f"{config['model']} on {config['device']}; server options {json.dumps(config['options'])} "
           f"(the rest its defaults), maxNewTokens {config['max_new_tokens']}; {config['cases']} cases, "
           f"seed {config['seed']}; {report['seconds_per_case']:.2f} s per case (both systems); "
           f"{report['errors']} errors",
           "sources: " + "; ".join(f"{lang}: {what}" for lang, what in config["sources"].items()), ""]
    for half, part in report["halves"].items():
        n = part["slices"]["all"].get("ours", {}).get("n", 0)
        out += [f"## {HALF_TITLES[half]} ({n} cases)", "", "### by mode", "",
                markdown_table(part["slices"], ["all", *part["kinds"]]), ""]
        if part["languages"]:
            out += ["### by language", "", markdown_table(part["slices"], part["languages"]), ""]
        if "coverage" in part:
            out += ["### coverage against precision (ours)", "", coverage_table(part["coverage"]), ""]
    out.append(WHOLE_NOTE)
    if any("naive_raw" in row for part in report["halves"].values() for row in part["slices"].values()):
        out.append(RAW_NOTE)
    return "\n".join(out)


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def dump_case(case: Case, row: dict[str, Any]) -> str:
    """One case for a reader: where the cursor is, what was cut, what each system answered."""
    line = case.document[case.document.rfind("\n", 0, case.start) + 1:case.start]
    after = case.document[case.start:].split("\n", 2)[:2]
    ours, naive = row["ours"], row["naive"]
    whole = row.get("ours_whole", ours)["text"]
    error = f"  error: {ours['error']}" if ours.get("error") else ""
    sure = f"  confidence {ours['confidence']:.2f}" if "confidence" in ours else ""
    raw = row.get("naive_raw")
    return (f"===== {case.id} ({case.kind}, {case.half or 'no'} half)\n"
            f"cursor line: {line!r}  then {after!r}\n"
            f"expected : {case.target!r}\n"
            f"ours     : {whole!r}  ES {ours['similarity']:.2f}{sure}{error}\n"
            f"naive    : {naive['text']!r}  ES {naive['similarity']:.2f}\n"
            + (f"naive raw: {raw['text']!r}  ES {raw['similarity']:.2f}\n" if raw else ""))


def rescored(report: dict[str, Any]) -> dict[str, Any]:
    """A saved report with its tables made again from its answers (`--report`): a run saved
    before a change of the scoring rules reads by the current ones."""
    outcomes = [o for row in report["cases"] for o in outcomes_of(row)]
    halves = report["config"]["halves"]
    return {**report, "halves": {h: half_report([o for o in outcomes if o.half == h]) for h in halves}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        print(render(rescored(json.loads(args.report.read_text(encoding="utf-8")))))
        return 0
    code = isa.rerun_as(args.isa, "bench.quality", sys.argv[1:] if argv is None else argv)
    if code is not None:
        return code
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "server"), os.environ.get("PYTHONPATH")]))
    folders = None
    try:
        cases = load_cases(args)
        if args.workspace:
            cases, folders = by_project(cases)
    except (SourceError, CaseError) as exc:
        raise SystemExit(f"bench.quality: {exc}") from exc
    report = asyncio.run(run(cases, args, folders))
    print("\n" + render(report))
    if args.dump:
        args.dump.write_text("\n".join(dump_case(c, row) for c, row in zip(cases, report["cases"])), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(_no_nan(report), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
