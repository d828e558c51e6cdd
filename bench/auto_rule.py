"""Deriving the `auto` rule from a profile sweep (bench/profiles.py --json): per request kind
(a key of `profiles.AUTO_RULE`) the fixed profile with the best mean pass rate, the coldest
one on a tie; then how that rule does against every fixed profile, on the cases it was
decided on and on cases held out from the decision.

    python bench/auto_rule.py docs/sweep/profiles.json

Everything here is pure (records in, numbers and markdown out) except `request_kind`,
which asks the completion pipeline's own rules what kind of request a case is.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from distill_lsp.profiles import AUTO_RULE, BUILTIN_PROFILES  # noqa: E402

Key = tuple[str, bool]
"""(mode kind, in a comment or docstring): the request kinds `auto` tells apart."""

KEY_NAMES: dict[Key, str] = {
    ("single_line", False): "single line of code",
    ("multi_line", False): "block of code",
    ("single_line", True): "comment or docstring, within a line",
    ("multi_line", True): "docstring, on a line of its own",
}


def coldest_first() -> list[str]:
    """Built-in profiles from the least to the most random (greedy first)."""
    return sorted(BUILTIN_PROFILES, key=lambda n: (BUILTIN_PROFILES[n].do_sample, BUILTIN_PROFILES[n].temperature))


@dataclass(frozen=True)
class CaseRecord:
    """One case of a sweep: its kind and the pass rate of each profile on it."""

    name: str
    key: Key
    place: str
    """What the case is, for people: line, block, comment or docstring."""
    pass_rates: Mapping[str, float]


def request_kind(case) -> tuple[Key, str]:
    """The `auto` key of a sweep case (`sweep.cases.SweepCase`) and a word for its place."""
    from distill_lsp.completion.prompt import in_docstring
    from distill_lsp.completion.rules import cursor_place, decide_mode

    snap = case.snapshot()
    place = cursor_place(snap.tree, snap.text, snap.offset, snap.lang)
    mode = decide_mode(snap.text, snap.offset, snap.lang)
    docstring = in_docstring(place, snap.prefix)
    word = "comment" if place.in_comment else "docstring" if docstring else (
        "line" if mode.single_line else "block")
    return (mode.kind.value, place.in_comment or docstring), word


def load(path: Path) -> list[CaseRecord]:
    """The records of a `bench/profiles.py --json` file."""
    data = json.loads(path.read_text())
    return [CaseRecord(c["name"], (c["mode_kind"], c["prose"]), c["place"],
                       {p: r["pass_rate"] for p, r in c["profiles"].items()}) for c in data["cases"]]


def kind_rates(records: Sequence[CaseRecord], profiles: Sequence[str]) -> dict[Key, dict[str, float]]:
    """Mean pass rate of each profile over the cases of each kind (every case weighs the same)."""
    keys = sorted({r.key for r in records}, key=list(KEY_NAMES).index)
    return {k: {p: statistics.mean(r.pass_rates[p] for r in records if r.key == k) for p in profiles}
            for k in keys}


SENSITIVITY_MARGIN = 0.05
"""The report also shows the rule when rates closer than this count as a tie: if that
changes the rule, the difference it rests on is a sample or two (noise)."""


def choose_rule(rates: Mapping[Key, Mapping[str, float]], order: Sequence[str],
                margin: float = 0.0) -> dict[Key, str]:
    """Per kind the earliest (coldest) profile of `order` within `margin` of the best rate."""
    rule = {}
    for key, by in rates.items():
        best = max(by[p] for p in order)
        rule[key] = next(p for p in order if by[p] >= best - margin - 1e-9)
    return rule


def rule_rate(records: Sequence[CaseRecord], rule: Mapping[Key, str], fallback: str = "coding") -> float:
    """Mean pass rate over `records` of a rule that takes `rule[kind]` for each case."""
    return statistics.mean(r.pass_rates[rule.get(r.key, fallback)] for r in records)


def fixed_rates(records: Sequence[CaseRecord], profiles: Sequence[str]) -> dict[str, float]:
    return {p: statistics.mean(r.pass_rates[p] for r in records) for p in profiles}


def halves(records: Sequence[CaseRecord]) -> tuple[list[CaseRecord], list[CaseRecord]]:
    """Split each kind's cases, sorted by name, alternately into two halves (A gets the first)."""
    a: list[CaseRecord] = []
    b: list[CaseRecord] = []
    for key in KEY_NAMES:
        for i, r in enumerate(sorted((r for r in records if r.key == key), key=lambda r: r.name)):
            (a if i % 2 == 0 else b).append(r)
    return a, b


def _pct(x: float) -> str:
    return f"{x:.0%}"


def kind_table(records: Sequence[CaseRecord], profiles: Sequence[str]) -> list[str]:
    rates = kind_rates(records, profiles)
    rule = choose_rule(rates, profiles)
    lines = ["| kind | cases | " + " | ".join(profiles) + " | best |", "| --- | --- |" + " --- |" * (len(profiles) + 1)]
    for key, by in rates.items():
        cases = ", ".join(sorted(r.name for r in records if r.key == key))
        lines.append(f"| {KEY_NAMES[key]} | {cases} | " + " | ".join(_pct(by[p]) for p in profiles)
                     + f" | {rule[key]} |")
    return lines


def comparison(records: Sequence[CaseRecord], rule: Mapping[Key, str], profiles: Sequence[str]) -> str:
    """`auto (rule) 83% | greedy 80% | ...` over `records`."""
    fixed = fixed_rates(records, profiles)
    return " | ".join([f"rule {_pct(rule_rate(records, rule))}"] + [f"{p} {_pct(fixed[p])}" for p in profiles])


def report(records: Sequence[CaseRecord]) -> list[str]:
    """Markdown: the per-kind table, the rule it gives, the current rule, and the held-out check."""
    profiles = coldest_first()
    rule = choose_rule(kind_rates(records, profiles), profiles)
    current = {k: v for k, v in AUTO_RULE.items()}
    out = ["### Pass rate per kind of request (mean over the kind's cases)", ""]
    out += kind_table(records, profiles)
    loose = choose_rule(kind_rates(records, profiles), profiles, margin=SENSITIVITY_MARGIN)
    out += ["", "Rule from all cases (best per kind, coldest on a tie): "
            + "; ".join(f"{KEY_NAMES[k]} -> {p}" for k, p in rule.items()) + ".",
            f"Counting rates within {SENSITIVITY_MARGIN:.0%} as ties instead: "
            + "; ".join(f"{KEY_NAMES[k]} -> {p}" for k, p in loose.items())
            + f", {_pct(rule_rate(records, loose))} over all cases.",
            "`profiles.AUTO_RULE` now: " + "; ".join(f"{KEY_NAMES[k]} -> {p}" for k, p in current.items()) + ".",
            "", "All cases: " + comparison(records, rule, profiles) + ";",
            "current `AUTO_RULE`: " + _pct(rule_rate(records, current)) + ".", "",
            "### Held out: decide on one half of each kind's cases, measure on the other", ""]
    a, b = halves(records)
    for name, fit, held in (("A", a, b), ("B", b, a)):
        fit_rule = choose_rule(kind_rates(fit, profiles), profiles)
        out += [f"- decided on half {name} ({', '.join(r.name for r in fit)}): "
                + "; ".join(f"{KEY_NAMES[k]} -> {p}" for k, p in fit_rule.items()),
                f"  - on those cases: {comparison(fit, fit_rule, profiles)}",
                f"  - on the held-out cases: {comparison(held, fit_rule, profiles)}"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("json", type=Path, help="output of bench/profiles.py --json")
    args = parser.parse_args()
    print("\n".join(report(load(args.json))))


if __name__ == "__main__":
    main()
