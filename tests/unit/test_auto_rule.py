"""The `auto` rule and its evidence: every bench case's check is real (its reference answer
passes, a wrong one and an empty one fail), the cases cover each kind `auto` tells apart,
the derivation (bench/auto_rule.py) is right on small tables, and `profiles.AUTO_RULE` is
the rule the recorded sweep (docs/sweep/profiles.json) gives."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.auto_rule import (KEY_NAMES, CaseRecord, choose_rule, coldest_first, fixed_rates, halves, kind_rates,
                             load, report, request_kind, rule_rate)
from distill_lsp.profiles import AUTO_RULE
from distill_lsp.sweep.cases import from_marked_file
from distill_lsp.sweep.metrics import passes

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(p for p in (ROOT / "bench" / "cases").glob("*.py") if not p.stem.endswith("_check"))
RECORDED = ROOT / "docs" / "sweep" / "profiles.json"


def _case(path: Path):
    return from_marked_file(path, path.with_name(path.stem + "_check.py"))


def _answers(path: Path) -> dict[str, str]:
    namespace: dict[str, object] = {}
    exec(path.with_name(path.stem + "_check.py").read_text(), namespace)  # noqa: S102 - our own bench file
    return {"reference": namespace["REFERENCE_ANSWER"], "wrong": namespace["WRONG_ANSWER"]}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_each_case_check_is_real(path: Path) -> None:
    case, answers = _case(path), _answers(path)
    assert passes(case, answers["reference"])
    assert not passes(case, answers["wrong"])
    assert not passes(case, "")


def test_cases_cover_every_kind_of_request() -> None:
    kinds = Counter(request_kind(_case(p))[0] for p in CASES)
    assert set(kinds) == set(KEY_NAMES) == set(AUTO_RULE)
    assert all(n >= 3 for n in kinds.values()) and sum(kinds.values()) >= 16
    places = Counter(request_kind(_case(p))[1] for p in CASES)
    assert set(places) == {"line", "block", "comment", "docstring"}


@pytest.mark.parametrize("name, key, place", [
    ("add", ("single_line", False), "line"),
    ("max_of", ("multi_line", False), "block"),
    ("mean_comment", ("single_line", True), "comment"),
    ("square_doc", ("single_line", True), "docstring"),
    ("gcd_doc", ("multi_line", True), "docstring"),
])
def test_request_kind(name, key, place) -> None:
    assert request_kind(_case(ROOT / "bench" / "cases" / f"{name}.py")) == (key, place)


LINE, BLOCK = ("single_line", False), ("multi_line", False)
ORDER = ["greedy", "precise", "coding", "creative"]


def _rec(name: str, key, **rates: float) -> CaseRecord:
    return CaseRecord(name, key, "x", {p: rates.get(p, 0.0) for p in ORDER})


RECORDS = [
    _rec("a", LINE, greedy=1.0, precise=0.5),
    _rec("b", LINE, greedy=0.0, precise=0.5),
    _rec("c", BLOCK, coding=0.5, creative=0.5),
    _rec("d", BLOCK, coding=0.5, creative=1 / 3),
]


def test_kind_rates_weigh_cases_equally() -> None:
    rates = kind_rates(RECORDS, ORDER)
    assert rates[LINE] == {"greedy": 0.5, "precise": 0.5, "coding": 0.0, "creative": 0.0}
    assert rates[BLOCK]["creative"] == pytest.approx(5 / 12)


def test_choose_rule_takes_the_best_and_the_coldest_on_a_tie() -> None:
    assert choose_rule(kind_rates(RECORDS, ORDER), ORDER) == {LINE: "greedy", BLOCK: "coding"}
    assert choose_rule({LINE: {"greedy": 0.1 + 0.2, "precise": 0.3}}, ["greedy", "precise"]) == {LINE: "greedy"}


def test_the_chosen_rule_is_never_below_a_fixed_profile() -> None:
    rule = choose_rule(kind_rates(RECORDS, ORDER), ORDER)
    assert rule_rate(RECORDS, rule) >= max(fixed_rates(RECORDS, ORDER).values())
    assert rule_rate(RECORDS, {LINE: "precise", BLOCK: "creative"}) == pytest.approx((0.5 + 0.5 + 0.5 + 1 / 3) / 4)


def test_halves_alternate_within_each_kind() -> None:
    a, b = halves(RECORDS)
    assert [r.name for r in a] == ["a", "c"] and [r.name for r in b] == ["b", "d"]


def test_coldest_first() -> None:
    assert coldest_first() == ORDER


def test_auto_rule_in_comments_is_the_rule_the_recorded_sweep_gives() -> None:
    """Within comments and docstrings `auto` follows the recorded sweep; on code it is greedy,
    measured on the real-code benchmark (bench/quality.py; profiles.AUTO_RULE says the numbers)."""
    records = load(RECORDED)
    assert {r.name for r in records} == {p.stem for p in CASES}
    swept = choose_rule(kind_rates(records, coldest_first()), coldest_first())
    in_comments = {key: name for key, name in AUTO_RULE.items() if key[1]}
    assert in_comments == {key: name for key, name in swept.items() if key[1]}
    assert {name for key, name in AUTO_RULE.items() if not key[1]} == {"greedy"}
    assert any("Held out" in line for line in report(records))
