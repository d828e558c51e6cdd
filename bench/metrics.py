"""Scoring a suggestion against the cut-out target, and summing scores up per system and slice.

Both texts are compared after stripping trailing whitespace (of every line and of the
whole). Exact match: equal after that. Edit similarity: 1 - Levenshtein distance / the
longer length. Empty: nothing but whitespace was suggested. Latency: p50 and p95 in ms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SYSTEMS = ("ours", "baseline", "baseline_cut")
"""distill-lsp; the naive baseline (raw generation); the same cut to the target's line count."""


def normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


def levenshtein(a: str, b: str) -> int:
    """Insertions, deletions and substitutions turning `a` into `b`."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def exact_match(prediction: str, target: str) -> bool:
    return normalize(prediction) == normalize(target)


def edit_similarity(prediction: str, target: str) -> float:
    p, t = normalize(prediction), normalize(target)
    longest = max(len(p), len(t))
    return 1.0 if longest == 0 else 1.0 - levenshtein(p, t) / longest


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between ranks; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Outcome:
    """One system's answer to one case."""

    system: str
    language: str
    kind: str
    prediction: str
    target: str
    latency_ms: float

    @property
    def exact(self) -> bool:
        return exact_match(self.prediction, self.target)

    @property
    def similarity(self) -> float:
        return edit_similarity(self.prediction, self.target)

    @property
    def empty(self) -> bool:
        return normalize(self.prediction) == ""


def summarize(outcomes: Iterable[Outcome]) -> dict[str, dict[str, float]]:
    """Metrics of one system over one slice of cases."""
    rows = list(outcomes)
    n = len(rows)
    latencies = [o.latency_ms for o in rows]
    return {
        "n": n,
        "exact_match": sum(o.exact for o in rows) / n if n else math.nan,
        "edit_similarity": sum(o.similarity for o in rows) / n if n else math.nan,
        "empty_rate": sum(o.empty for o in rows) / n if n else math.nan,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
    }


def slices(outcomes: Sequence[Outcome]) -> dict[str, dict[str, dict[str, float]]]:
    """{slice: {system: metrics}} for all cases, each kind and (when several) each language."""
    names = ["all"] + sorted({o.kind for o in outcomes}, key=_kind_order)
    languages = sorted({o.language for o in outcomes})
    if len(languages) > 1:
        names += languages
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        chosen = [o for o in outcomes if name in ("all", o.kind, o.language)]
        table[name] = {s: summarize(o for o in chosen if o.system == s) for s in _systems(outcomes)}
    return table


def _kind_order(kind: str) -> tuple[int, str]:
    from .cases import KINDS

    return (KINDS.index(kind) if kind in KINDS else len(KINDS), kind)


def _systems(outcomes: Sequence[Outcome]) -> list[str]:
    present = {o.system for o in outcomes}
    return [s for s in SYSTEMS if s in present] + sorted(present - set(SYSTEMS))


def markdown_table(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The systems side by side, one row per slice; each cell reads `ours / baseline [/ cut]`."""
    systems = [s for s in SYSTEMS if any(s in row for row in table.values())] or ["ours", "baseline"]
    names = " / ".join({"ours": "ours", "baseline": "base", "baseline_cut": "cut"}[s] for s in systems)
    header = (f"| slice | n | exact match {names} | edit sim. {names} | empty {names} "
              f"| p50 ms {names} | p95 ms {names} |")
    rows = [header, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, by_system in table.items():
        sides = [by_system.get(s, {}) for s in systems]
        n = int(next((side["n"] for side in sides if "n" in side), 0))
        cells = [_cells(sides, key, "{:.1%}") for key in ("exact_match", "edit_similarity", "empty_rate")]
        cells += [_cells(sides, key, "{:.0f}") for key in ("p50_ms", "p95_ms")]
        rows.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _cells(sides: list[dict[str, Any]], key: str, pattern: str) -> str:
    return " / ".join(_fmt(side.get(key), pattern) for side in sides)


def _fmt(value: Any, pattern: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)
