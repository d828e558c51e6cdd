"""Is `auto` no worse than the best fixed profile? Sweep every case under bench/cases/
(a file with `<CURSOR>` and its `_check.py`) over the profiles, same seeds for all.

    python bench/profiles.py [--samples 4] [--threads 1] [--out docs/sweep/profiles.md]

Prints one table per case and a summary: mean pass rate, syntax-error rate and
consistency of each profile over the cases.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from distill_lsp.settings import resolve
from distill_lsp.sweep.cases import from_marked_file
from distill_lsp.sweep.report import markdown_table
from distill_lsp.sweep.sampling import load_backend, profile_settings, sweep

ROOT = Path(__file__).resolve().parent
PROFILES = ("auto", "greedy", "precise", "coding", "creative")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    settings, _ = resolve({"threads": args.threads, "maxNewTokens": args.max_new_tokens})
    backend = load_backend(settings)
    columns = profile_settings(settings, PROFILES)
    per_profile: dict[str, list] = {p: [] for p in PROFILES}
    out = [f"Model {backend.info.name}, {args.samples} samples per profile and case (seeds 0..{args.samples - 1}), "
           f"max {args.max_new_tokens} new tokens.", ""]
    for path in sorted(ROOT.glob("cases/*.py")):
        if path.stem.endswith("_check"):
            continue
        case = from_marked_file(path, path.with_name(path.stem + "_check.py"))
        results = sweep(case, backend, columns, samples=args.samples, max_new_tokens=args.max_new_tokens)
        used = sorted(set(results[0].profiles_used))
        out += [f"### {case.name} (auto used {', '.join(used)})", "", markdown_table(results), ""]
        for r in results:
            per_profile[r.setting.label].append(r.measures)
        print("\n".join(out[-4:]), flush=True)
    out += ["### Over all cases (mean)", "", "| profile | pass rate | syntax errors | consistency |",
            "| --- | --- | --- | --- |"]
    for name, rows in per_profile.items():
        out.append(f"| {name} | {statistics.mean(m.pass_rate for m in rows):.0%} | "
                   f"{statistics.mean(m.syntax_error_rate for m in rows):.0%} | "
                   f"{statistics.mean(m.consistency for m in rows):.0%} |")
    print("\n".join(out[-len(per_profile) - 3:]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
