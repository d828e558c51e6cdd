"""Sweep results as a markdown table, JSON, and a PNG plot (matplotlib, the `sweep` extra)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from .metrics import Measures
from .sampling import SettingResult

logger = logging.getLogger(__name__)

COLUMNS = ("setting", "temperature", "consistency", "distinct", "syntax errors", "mean length", "pass rate")


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _row(m: Measures) -> list[str]:
    temperature = "-" if m.temperature is None else f"{m.temperature:g}"
    return [m.label, temperature, _pct(m.consistency), f"{m.distinct}/{m.samples}", _pct(m.syntax_error_rate),
            f"{m.mean_length:.1f}", _pct(m.pass_rate)]


def markdown_table(results: Sequence[SettingResult]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(_row(r.measures)) + " |" for r in results]
    return "\n".join(lines)


def to_json(case_name: str, results: Sequence[SettingResult], meta: dict[str, object]) -> dict[str, object]:
    return {"case": case_name, **meta,
            "settings": [{**r.measures.as_dict(), "answers": r.answers, "profiles_used": r.profiles_used}
                         for r in results]}


def write_json(path: Path, data: dict[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_plot(path: Path, results: Sequence[SettingResult], title: str) -> None:
    """Rates (consistency, distinct share, syntax errors, pass rate) and mean length per setting."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'distill-lsp[sweep]'") from exc
    rows = [r.measures for r in results]
    numeric = all(m.temperature is not None for m in rows)
    xs = [m.temperature for m in rows] if numeric else list(range(len(rows)))
    fig, (rates, length) = plt.subplots(1, 2, figsize=(10, 4))
    series = {"consistency": [m.consistency for m in rows],
              "distinct / samples": [m.distinct / max(m.samples, 1) for m in rows]}
    if all(m.syntax_error_rate is not None for m in rows):
        series["syntax-error rate"] = [m.syntax_error_rate for m in rows]
    if all(m.pass_rate is not None for m in rows):
        series["pass rate"] = [m.pass_rate for m in rows]
    for name, values in series.items():
        rates.plot(xs, values, marker="o", label=name)
    rates.set_ylim(-0.05, 1.05)
    rates.legend(fontsize=8)
    length.plot(xs, [m.mean_length for m in rows], marker="o", color="tab:purple")
    length.set_ylabel("mean length (characters)")
    for ax in (rates, length):
        ax.set_xlabel("temperature" if numeric else "profile")
        if not numeric:
            ax.set_xticks(xs, [m.label for m in rows])
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
