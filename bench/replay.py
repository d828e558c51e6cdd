"""Record raw generations once, then re-run only the post-processing on them: a fast loop
for working on `completion/` without generating again.

`record` cuts the same seeded cases as `bench.quality`, runs the server's own pipeline
in this process (`prompt.plan`, the engine's `generate`, no LSP) and saves, per case,
the prompt's token ids and the text decoded after every generated token; the generation
runs to the token limit, without the stop rule, so that `replay` can apply whatever stop
rule the current code has (greedy decoding makes the tokens the same up to that point).
It also saves the naive server's answers (shown, and raw: see `bench.baseline`).

`replay` plans each case again with the current code; where the prompt is still the
recorded one it applies the stop rule to the recorded steps and `pipeline.suggestion_from`, and
scores ours against the recorded naive server. Cases whose prompt changed are counted as
stale (record again). The figures are the server's as `bench.quality` would measure them
over LSP, except latency.

    PYTHONPATH=server python -m bench.replay record --cases 90 --out /tmp/rec.json
    PYTHONPATH=server python -m bench.replay replay /tmp/rec.json --dump /tmp/cases.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "server"):
    if str(_path) not in sys.path[:2]:
        sys.path.insert(0, str(_path))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from distill_lsp.completion.generate import request_for, stop_rule, worth_another_try  # noqa: E402
from distill_lsp.completion.pipeline import suggestion_from  # noqa: E402
from distill_lsp.completion.prompt import Plan, plan  # noqa: E402
from distill_lsp.completion.types import CompletionConfig, Snapshot, Suggestion  # noqa: E402
from distill_lsp.context.languages import detect_language  # noqa: E402
from distill_lsp.engine.types import GenerationResult, StopReason  # noqa: E402
from distill_lsp.settings import Settings, env_layer, resolve  # noqa: E402
from distill_lsp.uris import to_path  # noqa: E402

from bench.cases import HALVES, MAX_BLOCK_LINES, Case, cases_by_half  # noqa: E402
from bench.metrics import RAW_NOTE, WHOLE_NOTE, Outcome, markdown_table, scored_part, slices  # noqa: E402
from bench.session import case_uri  # noqa: E402
from bench.sources import LANGUAGES, sources_for  # noqa: E402

logger = logging.getLogger("bench.replay")


@dataclass(frozen=True)
class Steps:
    """A recorded generation: the text after each token, and why it ended."""

    texts: Sequence[str]
    end: StopReason
    """EOS or LENGTH (the recording never stops by rule)."""


def apply_stop_rule(steps: Steps, stop: Callable[[str], bool]) -> tuple[str, StopReason]:
    """The text and stop reason a generation with stop rule `stop` would have had."""
    for text in steps.texts:
        if stop(text):
            return text, StopReason.STOP_RULE
    return (steps.texts[-1] if steps.texts else ""), steps.end


def snapshot(case: Case, index: int) -> Snapshot:
    """What the server sees for `case` (a fresh parse; no other documents open)."""
    uri = case_uri(case, index)
    lang = detect_language(case.language, uri)
    text = case.document
    tree = lang.parser().parse(text.encode("utf-8")) if lang is not None else None
    return Snapshot(uri=uri, version=1, text=text, offset=case.start, lang=lang, tree=tree, path=to_path(uri))


def config_for(settings: Settings) -> CompletionConfig:
    """The CompletionConfig the server builds from `settings` (features/suggest.py)."""
    profile = settings.sampling_profile()
    return CompletionConfig(profile=profile, max_new_tokens=profile.max_new_tokens or settings.max_new_tokens,
                            max_lines=settings.max_lines, context_tokens=settings.context_tokens,
                            retries=settings.retries)


SINGLE_LINE_SPARE = 2
"""Lines a single-line recording goes past the stop rule's first newline (saves time; a
replayed stop rule that wants more than that sees the recording end there, as LENGTH)."""


def record_case(case: Case, index: int, backend: Any, config: CompletionConfig,
                earlier: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plan and generate one case to the token limit, keeping every step's text
    (single-line cases stop `SINGLE_LINE_SPARE` lines after the line the cursor is on),
    then the further tries the current code would make (`pipeline.run`'s retries), each
    recorded the same way. `earlier`: this case's row from an earlier recording, whose
    generations are reused where the prompt and the avoided tokens are the same."""
    snap = snapshot(case, index)
    planned = plan(snap, backend, config)
    if isinstance(planned, Suggestion):
        return {"skipped": planned.reason}
    earlier = earlier if earlier is not None and earlier.get("ids") == planned.ids else None
    row = {"ids": planned.ids, **(_steps_of(earlier) if earlier else _generate_steps(planned, backend, config, ()))}
    row["tries"] = []
    known = {tuple(t["avoid"]): t for t in (earlier or {}).get("tries", [])}
    avoided: tuple[int, ...] = ()
    last = row
    for _ in range(config.retries):
        done, result = _finish_recorded(planned, snap, last, config)
        if not worth_another_try(done, result, backend):
            break
        if not last.get("first"):  # an older recording: the first token, generated again
            last["first"] = list(_generate(planned, backend, config, avoided, max_new_tokens=1).token_ids[:1])
        avoided = (*avoided, *last["first"])
        last = known.get(avoided) or {"avoid": list(avoided),
                                      **_generate_steps(planned, backend, config, avoided)}
        row["tries"].append(last)
    return row


def _steps_of(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("texts", "end", "first") if key in row}


def _generate(planned: Plan, backend: Any, config: CompletionConfig, avoided: tuple[int, ...],
              keep: Callable[[str], bool] | None = None, max_new_tokens: int | None = None) -> GenerationResult:
    request = request_for(planned, config, avoid_first=avoided)
    request.stop_when = keep
    if max_new_tokens is not None:
        request.max_new_tokens = max_new_tokens
    return backend.generate(request)


def _generate_steps(planned: Plan, backend: Any, config: CompletionConfig,
                    avoided: tuple[int, ...]) -> dict[str, Any]:
    texts: list[str] = []

    def keep(text: str) -> bool:
        texts.append(text)
        return planned.mode.single_line and text.strip("\n").count("\n") > SINGLE_LINE_SPARE

    result = _generate(planned, backend, config, avoided, keep)
    end = StopReason.LENGTH if result.stop_reason is StopReason.STOP_RULE else result.stop_reason
    return {"texts": texts, "end": end.value, "first": list(result.token_ids[:1])}


def _finish_recorded(planned: Plan, snap: Snapshot, steps: dict[str, Any],
                     config: CompletionConfig) -> tuple[Suggestion, GenerationResult]:
    """What `pipeline.suggestion_from` makes of recorded steps under the current stop rule."""
    text, reason = apply_stop_rule(Steps(steps["texts"], StopReason(steps["end"])),
                                   stop_rule(planned.mode, planned.removed, config.max_lines,
                                                      planned.line_prefix))
    first = tuple(steps.get("first") or ([0] if steps["texts"] else []))  # an older recording: any id
    result = GenerationResult(text=text, new_tokens=0, prompt_tokens=len(planned.ids), stop_reason=reason,
                              token_ids=first)
    return suggestion_from(planned, snap, result, config), result


@dataclass(frozen=True)
class Replayed:
    """Our answer to one case, replayed, with what it was made from."""

    text: str
    note: str = ""
    """"stale" when the prompt is no longer the recorded one, or a further try the current
    code makes was not recorded; the skip reason when skipped."""
    raw: str = ""
    """The generation as the stop rule left it."""
    ungated: str = ""
    mode: str = ""
    tries: int = 1


class _Replaying:
    avoids_first_tokens = True  # recordings come from the local engine


def replay_case(case: Case, index: int, recorded: dict[str, Any], backend: Any,
                config: CompletionConfig) -> Replayed:
    """Our answer from a recorded generation and the current code."""
    snap = snapshot(case, index)
    planned = plan(snap, backend, config)
    if isinstance(planned, Suggestion):
        return Replayed("", planned.reason if "skipped" in recorded else "stale")
    if recorded.get("ids") != planned.ids:
        return Replayed("", "stale")
    done, result = _finish_recorded(planned, snap, recorded, config)
    tries = recorded.get("tries", [])
    for attempt in range(config.retries):
        if not worth_another_try(done, result, _Replaying()):
            break
        if attempt >= len(tries):
            return Replayed("", "stale")
        done, result = _finish_recorded(planned, snap, tries[attempt], config)
        done.tries = attempt + 2
    return Replayed(done.text, "", result.text, done.ungated, planned.mode.kind.value, done.tries)


def _settings(args: argparse.Namespace) -> Settings:
    options: dict[str, Any] = {"profile": args.profile, "maxNewTokens": args.max_new_tokens,
                               "maxLines": args.max_block_lines}
    if getattr(args, "retries", None) is not None:
        options["retries"] = args.retries
    if args.model:
        options["model"] = args.model
    settings, problems = resolve(env_layer(), options)
    if problems:
        raise SystemExit(f"bad options: {'; '.join(problems)}")
    return settings


def _cases(args: argparse.Namespace) -> list[Case]:
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    files = {lang: sources_for(lang) for lang in languages}
    halves = HALVES if args.half == "both" else (args.half,)
    return cases_by_half(files, args.cases, args.seed, halves, args.max_block_lines)


def _known_naive(path: Path | None) -> dict[str, dict[str, str]]:
    """case id -> the naive server's answers (shown and raw), from a `bench.quality --json` report
    (they do not depend on this checkout's code, so a report of the same cases saves
    generating them)."""
    if path is None:
        return {}
    report = json.loads(path.read_text(encoding="utf-8"))
    return {row["id"]: {"naive": row["naive"]["text"], "naive_raw": row["naive_raw"]["text"]}
            for row in report["cases"] if "naive_raw" in row}


def record(args: argparse.Namespace) -> int:
    from bench.baseline import NaiveServer
    from distill_lsp.sweep.sampling import load_backend

    settings = _settings(args)
    backend = load_backend(settings)
    naive: NaiveServer | None = None
    config = config_for(settings)
    known = _known_naive(args.naive_from)
    earlier = {}
    if args.reuse:
        earlier = {row["id"]: row for row in json.loads(args.reuse.read_text(encoding="utf-8"))["rows"]}
        known |= {i: {"naive": row["naive"], "naive_raw": row["naive_raw"]} for i, row in earlier.items()
                  if "naive_raw" in row and i not in known}
    rows = []
    for index, case in enumerate(_cases(args)):
        ours = record_case(case, index, backend, config, earlier.get(case.id, {}).get("ours"))
        if case.id in known:
            answers = known[case.id]
        else:
            naive = naive or NaiveServer(settings)
            answer = naive.complete(case.prefix, case.target_lines)
            answers = {"naive": answer.shown, "naive_raw": answer.raw}
        rows.append({"id": case.id, "ours": ours, **answers})
        print(f"[{index + 1:4d}/{args.cases}] {case.id}", file=sys.stderr, flush=True)
    meta = {k: getattr(args, k) for k in ("cases", "seed", "half", "languages", "profile", "max_new_tokens",
                                          "max_block_lines", "model", "retries")}
    args.out.write_text(json.dumps({"config": meta, "rows": rows}, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def replay(args: argparse.Namespace) -> int:
    from distill_lsp.sweep.sampling import load_backend

    data = json.loads(args.recording.read_text(encoding="utf-8"))
    retries = args.retries
    for key, value in data["config"].items():
        setattr(args, key, value)
    if retries is not None:
        args.retries = retries
    settings = _settings(args)
    backend = load_backend(settings)
    config = config_for(settings)
    outcomes, stale, retried, dump = [], 0, 0, []
    for index, (case, row) in enumerate(zip(_cases(args), data["rows"])):
        assert case.id == row["id"], (case.id, row["id"])
        ours = replay_case(case, index, row["ours"], backend, config)
        stale += ours.note == "stale"
        retried += ours.tries > 1
        outcomes += [Outcome("ours", case.language, case.kind, scored_part(ours.text, case.target), case.target, 0.0),
                     Outcome("ours_whole", case.language, case.kind, ours.text, case.target, 0.0),
                     Outcome("naive", case.language, case.kind, row["naive"], case.target, 0.0),
                     Outcome("naive_raw", case.language, case.kind, row["naive_raw"], case.target, 0.0)]
        dump.append(describe(case, ours, row["naive"], row["naive_raw"]))
    print(f"{len(data['rows'])} cases replayed, {stale} stale (prompt changed, or a try not recorded: "
          f"record again, with --reuse), {retried} answered by a further try\n")
    print(markdown_table(slices(outcomes)))
    print(WHOLE_NOTE)
    print(RAW_NOTE)
    if args.dump:
        args.dump.write_text("\n".join(dump), encoding="utf-8")
    return 0


def describe(case: Case, ours: Replayed, naive: str, naive_raw: str) -> str:
    """One case, readable: where, what was expected, what each system answered."""
    from bench.metrics import edit_similarity

    line = case.document[case.document.rfind("\n", 0, case.start) + 1:case.start]
    after = case.document[case.start:].split("\n", 2)[:2]
    tries = f", {ours.tries} tries" if ours.tries > 1 else ""
    return (f"===== {case.id} ({case.kind}, ours {ours.mode}{tries}) {ours.note}\n"
            f"cursor line: {line!r}  then {after!r}\n"
            f"expected: {case.target!r}\n"
            f"ours    : {ours.text!r}  ES {edit_similarity(ours.text, case.target):.2f}\n"
            f"  raw   : {ours.raw!r}\n"
            f"  ungated: {ours.ungated!r}\n"
            f"naive   : {naive!r}  ES {edit_similarity(naive, case.target):.2f}\n"
            f"naive raw: {naive_raw!r}  ES {edit_similarity(naive_raw, case.target):.2f}\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="generate and save the raw steps of ours and the naive server's answers")
    rec.add_argument("--cases", type=int, default=90)
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--half", choices=(*HALVES, "both"), default="both")
    rec.add_argument("--languages", default=",".join(LANGUAGES))
    rec.add_argument("--profile", default="greedy")
    rec.add_argument("--max-new-tokens", type=int, default=64)
    rec.add_argument("--max-block-lines", type=int, default=MAX_BLOCK_LINES)
    rec.add_argument("--model")
    rec.add_argument("--retries", type=int, help="the server's retries setting (default: its default)")
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--naive-from", type=Path, help="a bench.quality --json report of the same cases")
    rec.add_argument("--reuse", type=Path, help="an earlier recording of the same cases: its generations are "
                                                "kept where the prompt is the same, only what is new is generated")
    rep = sub.add_parser("replay", help="post-process the recorded generations with the current code")
    rep.add_argument("recording", type=Path)
    rep.set_defaults(half="both")  # a recording from before the split into halves
    rep.add_argument("--dump", type=Path, help="write every case (expected, ours, naive) here")
    rep.add_argument("--retries", type=int, help="replay with this retries setting (default: the recording's)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    return record(args) if args.command == "record" else replay(args)


if __name__ == "__main__":
    sys.exit(main())
