"""Fix and Document on broken real code: the search against one-shot generation, in one run.

Cases come from `bench.action_cases` (real functions of the pinned sources, one error put
into each). Every case runs, on one model loaded in this process, through the code the
engine worker runs for an action (`distill_lsp.actions`):

- **one-shot**: one generation with the action's profile (`fixProfile`, `documentProfile`),
  as the server did before the search (`actions.run.run`, seed 0);
- **model search**: candidates, the first greedy and the rest sampled, under the time budget,
  each judged (`actions.search`, `parserRepair` off): what the model achieves;
- **parser repair**: the one-token insertion tree-sitter finds, alone (no model);
- **shipped**: the server's default, the parser's repair where it finds exactly one, else
  the model search.

A fix counts when it passes the case's check (`action_cases.fixed`: it parses and is the
original program again). Reported per kind: the share fixed, the share refused with a
message, wrong edits offered (and among them edits with a syntax error: the target is none),
latency and model tries per fix. Document: the share of offered docs that parse and name
every parameter.

    PYTHONPATH=server nice -n 19 python -m bench.actions --per-language 14 --docs 3 --json bench-actions.json
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "server"):
    if str(_path) not in sys.path[:2]:
        sys.path.insert(0, str(_path))

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from distill_lsp.actions.edits import apply_replacement  # noqa: E402
from distill_lsp.actions.prompts import ActionKind  # noqa: E402
from distill_lsp.actions.repair import unique_repair  # noqa: E402
from distill_lsp.actions.run import ActionConfig, ActionInput, run  # noqa: E402
from distill_lsp.actions.search import run_action  # noqa: E402
from distill_lsp.context.languages import detect_language  # noqa: E402
from distill_lsp.engine.factory import make_backend_factory  # noqa: E402
from distill_lsp.engine.types import CancelToken  # noqa: E402
from distill_lsp.settings import env_layer, resolve  # noqa: E402

from bench.action_cases import SINGLE_TOKEN, Case, document_cases, fix_cases, fixed  # noqa: E402
from bench.sources import pinned  # noqa: E402

logger = logging.getLogger("bench.actions")
SYSTEMS = ("one-shot", "model search", "parser repair", "shipped")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.actions", description=__doc__.split("\n\n")[0])
    p.add_argument("--per-language", type=int, default=14, help="Fix cases per language (default 14)")
    p.add_argument("--docs", type=int, default=3, help="Document cases per language (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None, help="default: the settings' model (auto: the bundled one here)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="actionMaxNewTokens for every system (default: the setting's, 512)")
    p.add_argument("--json", type=Path, help="write every case's outcome here (after each case)")
    p.add_argument("--report", type=Path, help="print the tables of a --json file (of a finished or unfinished run)")
    return p.parse_args(argv)


def job_of(case: Case, kind: ActionKind) -> ActionInput:
    return ActionInput(kind, case.text, case.start, case.end, detect_language(case.language, None),
                       f"snippet.{ {'python': 'py', 'javascript': 'js', 'go': 'go'}[case.language]}",
                       case.diagnostics)


def outcome(case: Case, result: Any, seconds: float, system: str) -> dict[str, Any]:
    """What one system did with one case."""
    replacement = result.replacement if result is not None else None
    row: dict[str, Any] = {"case": case.id, "language": case.language, "kind": case.kind, "system": system,
                           "ms": seconds * 1000, "tries": getattr(result, "tries", 0)}
    if replacement is None or not replacement.ok:
        row |= {"offered": False, "refusal": replacement.refusal if replacement is not None else "nothing found"}
        return row
    new_doc = apply_replacement(case.text, replacement)
    spec = detect_language(case.language, None)
    assert spec is not None
    tree = spec.parser().parse(new_doc.encode())
    row |= {"offered": True, "syntax_error": tree.root_node.has_error, "new_doc": new_doc}
    if case.kind == "document":
        from distill_lsp.actions.judge import documented_share

        row["names_params"] = documented_share(list(case.params), case.text, new_doc) >= 1.0
        row["ok"] = not row["syntax_error"] and row["names_params"]
    else:
        row["ok"] = fixed(case, new_doc)
    return row


def run_fix(case: Case, backend: Any, settings: Any) -> list[dict[str, Any]]:
    job = job_of(case, ActionKind.FIX)
    one = ActionConfig(settings.sampling_profile(settings.fix_profile), settings.action_max_new_tokens,
                       settings.reasoning_tokens, seed=0)
    rows = []
    started = time.perf_counter()
    rows.append(outcome(case, run(job, backend, CancelToken(), one), time.perf_counter() - started, "one-shot"))
    started = time.perf_counter()
    repair = unique_repair(case.text, case.start, case.end, job.language.language, case.language)  # type: ignore[union-attr]
    parser_s = time.perf_counter() - started
    parser_row = _parser_row(case, repair, parser_s)
    rows.append(parser_row)
    search = _search_config(settings, ActionKind.FIX)
    started = time.perf_counter()
    searched = run_action(job, backend, CancelToken(), search)
    rows.append(outcome(case, searched, time.perf_counter() - started, "model search"))
    shipped = dict(parser_row if parser_row["offered"] else rows[-1], system="shipped")
    if not parser_row["offered"]:
        shipped["ms"] += parser_row["ms"]
    rows.append(shipped)
    logger.info("%s: %s", case.id, " | ".join(f"{r['system']}: {'fixed' if r.get('ok') else 'offered, wrong' if r['offered'] else 'refused'}"
                                              f" ({r['ms']:.0f} ms, {r['tries']} tries)" for r in rows))
    return rows


def _parser_row(case: Case, repair: Any, seconds: float) -> dict[str, Any]:
    from distill_lsp.actions.edits import ReplacementResult
    from distill_lsp.actions.run import ActionOutput

    result = ActionOutput(ActionKind.FIX, "", tries=0)
    result.replacement = (ReplacementResult(repair.offset, repair.offset, repair.token) if repair is not None
                          else ReplacementResult(case.start, case.end, None, "no one-token insertion parses alone"))
    return outcome(case, result, seconds, "parser repair")


def _search_config(settings: Any, kind: ActionKind) -> ActionConfig:
    name = settings.fix_profile if kind is ActionKind.FIX else settings.document_profile
    return ActionConfig(settings.sampling_profile(name), settings.action_max_new_tokens, settings.reasoning_tokens,
                        seed=0, tries=settings.action_tries, budget_s=settings.action_budget_seconds,
                        parser_repair=False)


def run_document(case: Case, backend: Any, settings: Any) -> list[dict[str, Any]]:
    job = job_of(case, ActionKind.DOCUMENT)
    one = ActionConfig(settings.sampling_profile(settings.document_profile), settings.action_max_new_tokens,
                       settings.reasoning_tokens, seed=0)
    started = time.perf_counter()
    rows = [outcome(case, run(job, backend, CancelToken(), one), time.perf_counter() - started, "one-shot")]
    started = time.perf_counter()
    searched = run_action(job, backend, CancelToken(), _search_config(settings, ActionKind.DOCUMENT))
    rows.append(outcome(case, searched, time.perf_counter() - started, "model search"))
    logger.info("%s: %s", case.id, " | ".join(f"{r['system']}: {'ok' if r.get('ok') else 'offered' if r['offered'] else 'refused'}"
                                              f" ({r['ms']:.0f} ms)" for r in rows))
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    ok = [r for r in rows if r.get("ok")]
    fixes_ms = [r["ms"] for r in ok]
    return {"n": n, "fixed": len(ok) / n if n else 0.0,
            "refused": sum(not r["offered"] for r in rows) / n if n else 0.0,
            "wrong": sum(r["offered"] and not r.get("ok") for r in rows),
            "syntax_errors": sum(r["offered"] and r.get("syntax_error", False) for r in rows),
            "p50_ms": statistics.median(r["ms"] for r in rows) if rows else 0.0,
            "p50_fix_ms": statistics.median(fixes_ms) if fixes_ms else float("nan"),
            "tries_per_fix": statistics.mean(r["tries"] for r in ok) if ok else float("nan")}


def fix_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| kind | n | system | fixed | refused (message) | wrong edits offered | ...with a syntax error "
             "| p50 ms | p50 ms of fixes | model tries per fix |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    kinds = sorted({r["kind"] for r in rows})
    slices = [("all single-token syntax errors", lambda r: r["kind"] in SINGLE_TOKEN), ("all", lambda r: True)]
    slices = [(k, lambda r, k=k: r["kind"] == k) for k in kinds] + slices
    for name, keep in slices:
        for system in SYSTEMS:
            chosen = [r for r in rows if keep(r) and r["system"] == system]
            if not chosen:
                continue
            s = summary(chosen)
            lines.append(f"| {name} | {s['n']} | {system} | {s['fixed']:.0%} | {s['refused']:.0%} | {s['wrong']} "
                         f"| {s['syntax_errors']} | {s['p50_ms']:.0f} | {s['p50_fix_ms']:.0f} "
                         f"| {s['tries_per_fix']:.2f} |")
    return "\n".join(lines)


def doc_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| language | n | system | parse and name every parameter | offered | refused | p50 ms |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for language in [*sorted({r["language"] for r in rows}), "all"]:
        for system in ("one-shot", "model search"):
            chosen = [r for r in rows if r["system"] == system and language in (r["language"], "all")]
            if chosen:
                s = summary(chosen)
                offered = sum(r["offered"] for r in chosen) / len(chosen)
                lines.append(f"| {language} | {s['n']} | {system} | {s['fixed']:.0%} | {offered:.0%} "
                             f"| {s['refused']:.0%} | {s['p50_ms']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    if args.report:
        saved = json.loads(args.report.read_text())
        print("## Fix\n\n" + fix_table(saved["fix"]) + "\n\n## Document\n\n" + doc_table(saved["document"]))
        return 0
    layers: list[dict[str, Any]] = [env_layer(os.environ)]
    if args.model:
        layers.append({"model": args.model})
    if args.max_new_tokens:
        layers.append({"actionMaxNewTokens": args.max_new_tokens})
    settings, problems = resolve(*layers)
    assert not problems, problems
    cases, docs = fix_cases(args.per_language, args.seed), document_cases(args.docs, args.seed)
    backend = make_backend_factory(settings)()
    info = backend.info
    print(f"# bench.actions: {len(cases)} Fix cases, {len(docs)} Document cases; model {info.name} on {info.device} "
          f"({info.dtype}, {info.quantization}); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; tries {settings.action_tries}, budget {settings.action_budget_seconds:g} s, "
          f"answers of at most {settings.action_max_new_tokens} tokens; "
          f"sources: {', '.join(pinned(lang) for lang in ('python', 'javascript', 'go'))}\n")
    rows: list[dict[str, Any]] = []
    doc_rows: list[dict[str, Any]] = []
    for case in interleaved(cases, docs):  # an unfinished run still covers every language and kind
        if case.kind == "document":
            doc_rows += run_document(case, backend, settings)
        else:
            rows += run_fix(case, backend, settings)
        _save(args.json, rows, doc_rows)
    print("## Fix\n\n" + fix_table(rows) + "\n\n## Document\n\n" + doc_table(doc_rows))
    return 0


def interleaved(cases: list[Case], docs: list[Case]) -> list[Case]:
    """Languages taking turns, and a Document case after every few Fix cases."""
    turns, docs = _turns(cases), _turns(docs)
    every = max(1, len(turns) // max(1, len(docs)))
    out: list[Case] = []
    for index, case in enumerate(turns):
        out.append(case)
        if (index + 1) % every == 0 and docs:
            out.append(docs.pop(0))
    return out + docs


def _turns(cases: list[Case]) -> list[Case]:
    by_language: dict[str, list[Case]] = {}
    for case in cases:
        by_language.setdefault(case.language, []).append(case)
    return [c for group in itertools.zip_longest(*by_language.values()) for c in group if c is not None]


def _save(path: Path | None, rows: list[dict[str, Any]], doc_rows: list[dict[str, Any]]) -> None:
    """Every case so far (a long run can be read while it goes on)."""
    if path is not None:
        path.write_text(json.dumps({"fix": rows, "document": doc_rows}, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
