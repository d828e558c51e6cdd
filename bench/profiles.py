"""Is `auto` no worse than the best fixed profile? Sweep every case under bench/cases/
(a file with `<CURSOR>` and its `_check.py`) over the profiles, same seeds for all.

    python bench/profiles.py [--samples 4] [--threads 1] [--out docs/sweep/profiles.md]
                             [--json docs/sweep/profiles.json]

Prints one table per case (with the kind of request it is: a line or a block of code, a
comment, a docstring) and a summary: mean pass rate, syntax-error rate and consistency of
each profile over the cases; then the `auto` rule the numbers give per kind and how it
does on held-out cases (bench/auto_rule.py, which rereads the JSON without sampling).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT.parent), str(ROOT.parent / "server")]

from bench.auto_rule import CaseRecord, report, request_kind  # noqa: E402
from distill_lsp.settings import resolve
from distill_lsp.sweep.cases import from_marked_file
from distill_lsp.sweep.report import markdown_table
from distill_lsp.sweep.sampling import load_backend, profile_settings, sweep
PROFILES = ("auto", "greedy", "precise", "coding", "creative")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", type=Path, help="every answer and measure, for bench/auto_rule.py")
    args = parser.parse_args()
    # No prefix reuse: a reused prefix gives slightly different logits than a fresh one, so
    # the same profile and seed would sample differently depending on what ran before.
    # Without it a column is a function of (profile, seed), and `auto` repeats exactly the
    # answers of the profile it picks.
    settings, _ = resolve({"threads": args.threads, "maxNewTokens": args.max_new_tokens, "prefixCacheMB": 0})
    backend = load_backend(settings)
    columns = profile_settings(settings, PROFILES)
    per_profile: dict[str, list] = {p: [] for p in PROFILES}
    records: list[CaseRecord] = []
    dump: list[dict] = []
    out = [f"Model {backend.info.name}, {args.samples} samples per profile and case (seeds 0..{args.samples - 1}), "
           f"max {args.max_new_tokens} new tokens.", ""]
    for path in sorted(ROOT.glob("cases/*.py")):
        if path.stem.endswith("_check"):
            continue
        case = from_marked_file(path, path.with_name(path.stem + "_check.py"))
        results = sweep(case, backend, columns, samples=args.samples, max_new_tokens=args.max_new_tokens)
        used = sorted(set(results[0].profiles_used))
        (mode_kind, prose), place = request_kind(case)
        out += [f"### {case.name}: {place} (auto used {', '.join(used)})", "", markdown_table(results), ""]
        for r in results:
            per_profile[r.setting.label].append(r.measures)
        records.append(CaseRecord(case.name, (mode_kind, prose), place,
                                  {r.setting.label: r.measures.pass_rate for r in results}))
        dump.append({"name": case.name, "mode_kind": mode_kind, "prose": prose, "place": place,
                     "profiles": {r.setting.label: {**r.measures.as_dict(), "answers": r.answers,
                                                    "profiles_used": r.profiles_used} for r in results}})
        print("\n".join(out[-4:]), flush=True)
    out += ["### Over all cases (mean)", "", "| profile | pass rate | syntax errors | consistency |",
            "| --- | --- | --- | --- |"]
    for name, rows in per_profile.items():
        out.append(f"| {name} | {statistics.mean(m.pass_rate for m in rows):.0%} | "
                   f"{statistics.mean(m.syntax_error_rate for m in rows):.0%} | "
                   f"{statistics.mean(m.consistency for m in rows):.0%} |")
    print("\n".join(out[-len(per_profile) - 3:]))
    analysis = [""] + report(records)
    out += analysis
    print("\n".join(analysis))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"model": backend.info.name, "samples": args.samples, "cases": dump},
                                        indent=1) + "\n")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
