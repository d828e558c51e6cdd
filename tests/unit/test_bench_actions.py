"""bench/actions.py's rows without a model: the parser's repair of a case, and its check."""

from __future__ import annotations

from bench.action_cases import Case
from bench.actions import _parser_row, fix_table

from distill_lsp.actions.repair import unique_repair
from distill_lsp.context.languages import detect_language

ORIGINAL = "def mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total\n"


def _case(text: str) -> Case:
    return Case("python-00-missing_colon", "python", "missing_colon", text, 0, len(text) - 1, ORIGINAL,
                ("expected ':'",))


def test_the_parser_row_of_a_missing_colon_is_a_fix() -> None:
    case = _case(ORIGINAL.replace("in values:", "in values"))
    spec = detect_language("python", None)
    assert spec is not None
    repair = unique_repair(case.text, case.start, case.end, spec.language, "python")
    row = _parser_row(case, repair, 0.001)
    assert row["offered"] and row["ok"] and not row["syntax_error"] and row["tries"] == 0
    assert "| missing_colon | 1 | parser repair | 100% |" in fix_table([row])


def test_the_parser_row_without_a_repair_is_a_refusal() -> None:
    row = _parser_row(_case(ORIGINAL.replace("in values:", "in values")), None, 0.0)
    assert not row["offered"] and row["refusal"]
