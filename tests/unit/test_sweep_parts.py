"""The sweep's pure parts: cases, measures, the pass check, the table, argument parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill_lsp.context.languages import detect_language
from distill_lsp.profiles import BUILTIN_PROFILES
from distill_lsp.settings import Settings
from distill_lsp.sweep.cases import SweepCase, SweepError, entry_point_for, from_location, from_marked_file, from_prompt
from distill_lsp.sweep.command import parse_temperatures
from distill_lsp.sweep.metrics import adds_syntax_error, consistency, measure, passes
from distill_lsp.sweep.report import COLUMNS, markdown_table
from distill_lsp.sweep.sampling import SettingResult, profile_settings, temperature_settings

PY = detect_language("python", None)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("answers, expected", [
    (["a", "a", "b", "a"], 0.75), (["a", "b"], 0.5), (["x"], 1.0), ([], 0.0), (["", "", "a"], 2 / 3),
])
def test_consistency(answers, expected) -> None:
    assert consistency(answers) == pytest.approx(expected)


@pytest.mark.parametrize("text, answer, bad", [
    ("def f(x):\n    return ", "x + 1", False),
    ("def f(x):\n    return ", "x +", True),
    ("def f(x):\n    return ", "(x", True),
    ("def f(x):\n    ", "if x:\n        return 1\n    return 2", False),
])
def test_adds_syntax_error(text, answer, bad) -> None:
    assert adds_syntax_error(text, len(text), answer, PY) is bad


def test_existing_errors_do_not_count() -> None:
    text = "def f(:\n    pass\n\ndef g():\n    return "
    assert not adds_syntax_error(text, len(text), "1", PY)


def _case(text: str, check: str | None = None) -> SweepCase:
    return SweepCase("t", text, len(text), PY, check, "f" if check else None)


CHECK = "def check(candidate):\n    assert candidate(2) == 3\n"


def test_passes_runs_the_check_in_a_fresh_interpreter() -> None:
    case = _case("def f(x):\n    return ", CHECK)
    assert passes(case, "x + 1")
    assert not passes(case, "x + 2")
    assert not passes(case, "x +")
    assert not passes(case, "__import__('time').sleep(5) or x + 1", timeout=0.5)


def test_a_check_reads_the_completed_document() -> None:
    text = "def f(x):\n    # add "
    case = SweepCase("t", text, len(text), PY,
                     "def check(candidate):\n    assert 'one' in __document__.splitlines()[1]\n", "f")
    assert passes(case, "one\n    return x + 1")
    assert not passes(case, "two\n    return x + 1")


def test_measure_row() -> None:
    case = _case("def f(x):\n    return ", CHECK)
    m = measure("0.2", 0.2, case, ["x + 1", "x + 1", "x - 1", ""], ["x + 1", "x + 1", "x - 1", "x +"])
    assert (m.consistency, m.distinct, m.samples) == (0.5, 3, 4)
    assert m.syntax_error_rate == 0.25 and m.pass_rate == 0.5 and m.empty_rate == 0.25
    assert m.mean_length == pytest.approx((5 + 5 + 5 + 0) / 4)


def test_measure_without_language_or_check() -> None:
    m = measure("p", None, SweepCase("p", "x\n", 2, None), ["a", "b"], ["a", "b"])
    assert m.syntax_error_rate is None and m.pass_rate is None


def test_table_has_every_column() -> None:
    case = _case("def f(x):\n    return ", CHECK)
    settings = temperature_settings(BUILTIN_PROFILES["coding"], [0.2])
    result = SettingResult(settings[0], ["x + 1"], ["x + 1"], ["T=0.2"],
                           measure("0.2", 0.2, case, ["x + 1"], ["x + 1"]))
    header, rule, row = markdown_table([result]).split("\n")
    assert [c.strip() for c in header.strip("|").split("|")] == list(COLUMNS)
    assert row == "| 0.2 | 0.2 | 100% | 1/1 | 0% | 5.0 | 100% |"


def test_temperature_and_profile_settings() -> None:
    temps = temperature_settings(BUILTIN_PROFILES["greedy"], [0.2, 1.2])
    assert [(s.label, s.profile.temperature, s.profile.do_sample) for s in temps] == [
        ("0.2", 0.2, True), ("1.2", 1.2, True)]
    named = profile_settings(Settings(), ["auto", "greedy", "precise"])
    assert [(s.label, s.temperature) for s in named] == [("auto", None), ("greedy", None), ("precise", 0.45)]


@pytest.mark.parametrize("text, expected", [
    (None, [0.2, 0.4, 0.6, 0.65, 0.8, 1.0, 1.2]), ("0.3,0.9", [0.3, 0.9]), ("1, 2 ,", [1.0, 2.0]),
])
def test_parse_temperatures(text, expected) -> None:
    assert parse_temperatures(text) == expected


@pytest.mark.parametrize("text", ["a,b", "0", "-1", "6", ","])
def test_bad_temperatures(text) -> None:
    with pytest.raises(SweepError, match="--temperatures"):
        parse_temperatures(text)


def test_cases_from_location_marked_file_and_prompt(tmp_path) -> None:
    case = from_location(f"{ROOT}/examples/fib.py:16:5", check_file=ROOT / "examples" / "fib_check.py")
    assert case.text[:case.offset].endswith('"""Return the n-th Fibonacci number."""\n    ')
    assert case.entry_point == "fibonacci" and case.lang is not None
    marked = from_marked_file(ROOT / "bench" / "cases" / "add.py", ROOT / "bench" / "cases" / "add_check.py")
    assert marked.text.endswith("return \n") and marked.offset == len(marked.text) - 1
    prompt = from_prompt("solve x^2 - 5x + 6 = 0 with steps")
    assert prompt.text.endswith("steps\n\n") and prompt.offset == len(prompt.text) and prompt.lang is None
    (tmp_path / "two.py").write_text("<CURSOR><CURSOR>")
    with pytest.raises(SweepError, match="exactly once"):
        from_marked_file(tmp_path / "two.py")
    with pytest.raises(SweepError, match="FILE:LINE:COL"):
        from_location("nowhere.py")
    (tmp_path / "c.py").write_text("def nope(): pass\n")
    with pytest.raises(SweepError, match="check"):
        from_location(f"{ROOT}/examples/fib.py:16:5", check_file=tmp_path / "c.py")


def test_entry_point_rules() -> None:
    text = "def a():\n    pass\n\ndef b(x):\n    "
    assert entry_point_for(text, len(text), None) == "b"
    assert entry_point_for(text, len(text), "entry_point = 'a'\ndef check(c): pass") == "a"
    assert entry_point_for(text, len(text), None, "zz") == "zz"
    assert entry_point_for("x = 1\n", 6, None) is None
