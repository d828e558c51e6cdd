"""Scoring a suggestion against the cut-out target, and summing scores up per system and slice.

Both texts are compared after stripping trailing whitespace (of every line and of the
whole). Exact match: equal after that. Edit similarity: 1 - Levenshtein distance / the
longer length. Empty: nothing but whitespace was suggested (an abstention counts as empty).
Edit similarity among answered: over the non-empty suggestions only. Latency: p50 and p95
in ms. Coverage against precision: at each confidence threshold, the share of holes
answered (non-empty, confidence at least the threshold) and the scores among those.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SYSTEMS = ("ours", "ours_whole", "naive", "naive_raw")
"""distill-lsp, scored on as many first lines as the target has (as the naive server's shown
answer is); distill-lsp's whole suggestion; the naive server's shown answer; its whole
generation (see `bench.baseline`)."""
LABELS = {"ours": "ours", "ours_whole": "ours, whole", "naive": "naive", "naive_raw": "naive raw"}
RAW_NOTE = "naive raw: the naive server's whole generation, no post-processing (not what an editor would show)"
WHOLE_NOTE = ("ours and naive are scored on their first lines, as many as the target has (one for a hole within a "
              "line); ours, whole: the whole suggestion ours inserted, lines past the target's counted as wrong")
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


def scored_part(text: str, target: str) -> str:
    """What is scored of a suggestion: its first lines, as many as `target` has (the first
    line for a hole within one line), the same cut the naive server's shown answer gets."""
    return "\n".join(text.split("\n")[:target.count("\n") + 1])


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
    confidence: float | None = None
    """The server's confidence in the suggestion, when it gives one."""
    half: str = ""

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
    latencies = [o.latency_ms for o in rows]
    return {
        "n": len(rows),
        "exact_match": _mean([o.exact for o in rows]),
        "edit_similarity": _mean([o.similarity for o in rows]),
        "empty_rate": _mean([o.empty for o in rows]),
        "answered_similarity": _mean([o.similarity for o in rows if not o.empty]),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def coverage(pairs: Sequence[tuple[Outcome, Outcome]],
             thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, float]]:
    """Per threshold, over (ours, naive) pairs of one hole each: the share of holes ours
    answers (non-empty, confidence at least the threshold; a suggestion without a confidence
    counts as 0), ours' exact match and edit similarity among those, and the naive server's
    edit similarity on the same holes."""
    rows = []
    for threshold in thresholds:
        answered = [(o, n) for o, n in pairs if not o.empty and (o.confidence or 0.0) >= threshold]
        rows.append({"threshold": threshold, "n": len(answered),
                     "answered": len(answered) / len(pairs) if pairs else math.nan,
                     "exact_match": _mean([o.exact for o, _ in answered]),
                     "edit_similarity": _mean([o.similarity for o, _ in answered]),
                     "naive_similarity": _mean([n.similarity for _, n in answered])})
    return rows


def slices(outcomes: Sequence[Outcome]) -> dict[str, dict[str, dict[str, float]]]:
    """{slice: {system: metrics}} for all cases, each kind and (when several) each language."""
    names = ["all"] + kinds_of(outcomes) + languages_of(outcomes)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        chosen = [o for o in outcomes if name in ("all", o.kind, o.language)]
        table[name] = {s: summarize(o for o in chosen if o.system == s) for s in _systems(outcomes)}
    return table


def kinds_of(outcomes: Sequence[Outcome]) -> list[str]:
    return sorted({o.kind for o in outcomes}, key=_kind_order)


def languages_of(outcomes: Sequence[Outcome]) -> list[str]:
    """The languages present, when there are several (one is the same slice as `all`)."""
    languages = sorted({o.language for o in outcomes})
    return languages if len(languages) > 1 else []


def _kind_order(kind: str) -> tuple[int, str]:
    from .cases import KINDS

    return (KINDS.index(kind) if kind in KINDS else len(KINDS), kind)


def _systems(outcomes: Sequence[Outcome]) -> list[str]:
    present = {o.system for o in outcomes}
    return [s for s in SYSTEMS if s in present] + sorted(present - set(SYSTEMS))


def markdown_table(table: dict[str, dict[str, dict[str, Any]]], names: Sequence[str] | None = None) -> str:
    """One row per slice (those in `names`, default all) and system: quality, then latency."""
    rows = ["| slice | system | n | exact match | edit sim. | edit sim. answered | empty | p50 ms | p95 ms |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in names if names is not None else list(table):
        for system, m in table[name].items():
            rows.append(f"| {name} | {LABELS.get(system, system)} | {m['n']} | {_fmt(m['exact_match'], '{:.1%}')} "
                        f"| {_fmt(m['edit_similarity'], '{:.1%}')} | {_fmt(m['answered_similarity'], '{:.1%}')} "
                        f"| {_fmt(m['empty_rate'], '{:.1%}')} | {_fmt(m['p50_ms'], '{:.0f}')} "
                        f"| {_fmt(m['p95_ms'], '{:.0f}')} |")
    return "\n".join(rows)


def coverage_table(rows: Sequence[dict[str, float]]) -> str:
    """`coverage` as markdown."""
    lines = ["| confidence at least | answered | exact match among answered | edit sim. among answered "
             "| naive edit sim. on those holes |", "| ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['threshold']:.2f} | {_fmt(row['answered'], '{:.1%}')} "
                     f"| {_fmt(row['exact_match'], '{:.1%}')} | {_fmt(row['edit_similarity'], '{:.1%}')} "
                     f"| {_fmt(row['naive_similarity'], '{:.1%}')} |")
    return "\n".join(lines)


def _fmt(value: Any, pattern: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)
