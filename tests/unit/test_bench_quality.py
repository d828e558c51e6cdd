"""The quality benchmark's case generator, metrics and LSP helpers (no model, no server)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from lsprotocol import types

from bench.baseline import cut_lines, enough_lines, prompt_budget
from bench.cases import KINDS, Case, CaseError, code_lines, generate_cases, slots
from bench.metrics import (Outcome, edit_similarity, exact_match, levenshtein, markdown_table, normalize,
                           percentile, slices, summarize)
from bench.session import insertion, utf16_offset, utf16_position
from bench.sources import SourceFile
from tests.fixtures.scripted_backend import ScriptedBackend

PY = '''"""Module docstring
spanning lines."""
import os


def walk(root):
    # collect the files
    found = []
    for name in os.listdir(root):
        if name.startswith("."):
            continue
        found.append(os.path.join(root,
                                  name))
    return found


class Box:
    def __init__(self, size):
        self.size = size
'''

JS = '''/**
 * Adds two numbers.
 * @returns {number}
 */
function add(a, b) {
  // plain sum
  return a + b;
}

export function clamp(value, lo, hi) {
  if (value < lo) {
    return lo;
  }
  return value > hi ? hi : value;
}
'''


def _lines(text: str, mask: list[bool]) -> list[str]:
    return [line.strip() for line, code in zip(text.split("\n"), mask) if code]


def test_code_lines_skip_comments_docstrings_and_blanks() -> None:
    kept = _lines(PY, code_lines(PY, "python"))
    assert "import os" in kept and "found = []" in kept and "name))" in kept
    assert not any(line.startswith(("#", '"""')) or line == "spanning lines.\"\"\"" for line in kept)
    js = _lines(JS, code_lines(JS, "javascript"))
    assert js[0] == "function add(a, b) {"
    assert not any(line.startswith(("*", "/**", "//")) for line in js)


def _slot_text(text: str, kind: str, language: str) -> list[tuple[str, str]]:
    """(text before the cursor on its line, target) for each slot of `kind`, cursor at `lo`."""
    found = []
    for slot in slots(text, language)[kind]:
        line_start = text.rfind("\n", 0, slot.lo) + 1
        found.append((text[line_start:slot.lo], text[slot.lo:slot.end]))
    return found


def _blocks(text: str, language: str, max_lines: int) -> list[str]:
    return [text[s.lo:s.end] for s in slots(text, language, max_lines)["block"]]


def test_block_slots_run_to_the_dedent_within_the_cap() -> None:
    assert _blocks(PY, "python", 4) == [
        'if name.startswith("."):\n            continue\n        found.append(os.path.join(root,\n'
        '                                  name))',
        "continue", "def __init__(self, size):\n        self.size = size", "self.size = size"]
    # walk()'s and add()'s bodies start with a comment: not block cases
    assert _blocks(JS, "javascript", 4) == ["if (value < lo) {\n    return lo;\n  }\n  return value > hi ? hi : value;",
                                            "return lo;"]


def test_block_slots_never_end_inside_a_construct_continued_below() -> None:
    # a cap of 3 lines would end on `found.append(os.path.join(root,`: backs off one line
    assert _blocks(PY, "python", 3)[0] == 'if name.startswith("."):\n            continue'
    assert _blocks(JS, "javascript", 3)[0] == "if (value < lo) {\n    return lo;\n  }"
    # a cap of 1 on a body that opens a block at once: no case rather than a cut inside it
    assert _blocks(PY, "python", 1) == ["continue", "self.size = size"]


def test_block_targets_in_javascript_end_before_the_closing_brace() -> None:
    targets = [t for _, t in _slot_text(JS, "block", "javascript")]
    assert "return lo;" in targets
    assert all(not t.rstrip().endswith("}") or t.count("{") == t.count("}") for t in targets)
    assert all(not t.strip().startswith("}") for t in targets)


def test_line_start_slots_sit_after_indentation_and_need_a_word() -> None:
    found = _slot_text(JS, "line_start", "javascript")
    assert ("  ", "return a + b;") in found
    assert all(before.strip() == "" for before, _ in found)
    assert all(target.strip() != "}" for _, target in found)


def test_mid_line_slots_leave_typed_text_and_a_target() -> None:
    for slot in slots(PY, "python")["mid_line"]:
        line_start = PY.rfind("\n", 0, slot.lo) + 1
        typed = PY[line_start:slot.lo].lstrip()
        assert len(typed) >= 2
        assert len(PY[slot.hi:slot.end].rstrip()) >= 3
        assert "\n" not in PY[slot.lo:slot.end]


def _files() -> dict[str, list[SourceFile]]:
    return {"python": [SourceFile("python", Path("/src/walk.py"), PY)],
            "javascript": [SourceFile("javascript", Path("/src/add.js"), JS)]}


def test_generate_cases_is_seeded_balanced_and_distinct() -> None:
    first = generate_cases(_files(), 12, seed=7)
    again = generate_cases(_files(), 12, seed=7)
    other = generate_cases(_files(), 12, seed=8)
    assert [(c.path, c.start, c.end) for c in first] == [(c.path, c.start, c.end) for c in again]
    assert [(c.path, c.start, c.end) for c in first] != [(c.path, c.start, c.end) for c in other]
    assert [c.kind for c in first] == list(KINDS) * 4
    assert sorted(c.language for c in first) == ["javascript"] * 6 + ["python"] * 6
    assert len({(c.path, c.kind, c.start) for c in first}) == 12


def test_case_document_is_the_source_with_the_hole_cut() -> None:
    for case in generate_cases(_files(), 9, seed=1):
        assert case.document[:case.start] + case.target + case.document[case.start:] == case.source
        assert case.target.strip() and not case.target.endswith("\n")
        assert case.document[case.start:].startswith("\n")  # the rest of the line went with the target
        assert case.target_lines == case.target.count("\n") + 1
        described = case.describe()
        assert described["target"] == case.target and "source" not in described
        assert case.source.split("\n")[case.line][:described["column"]] == case.prefix.rsplit("\n", 1)[-1]


def test_generate_cases_fails_when_material_runs_out() -> None:
    tiny = {"python": [SourceFile("python", Path("/t.py"), "x = 1\ny = 22\n")]}
    with pytest.raises(CaseError):
        generate_cases(tiny, 30, seed=0)


@pytest.mark.parametrize(("a", "b", "distance"), [
    ("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("same", "same", 0),
])
def test_levenshtein(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance == levenshtein(b, a)


def test_exact_match_and_similarity_ignore_trailing_whitespace_only() -> None:
    assert normalize("a  \nb\t\n\n") == "a\nb"
    assert exact_match("x = 1   \n", "x = 1")
    assert not exact_match(" x = 1", "x = 1")
    assert edit_similarity("x = 1\n", "x = 1") == 1.0
    assert edit_similarity("", "abcd") == 0.0
    assert edit_similarity("abcx", "abcd") == pytest.approx(0.75)


def test_percentile_interpolates() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert math.isnan(percentile([], 50))


def _outcome(system: str, kind: str, prediction: str, target: str = "ab", ms: float = 10.0,
             language: str = "python") -> Outcome:
    return Outcome(system, language, kind, prediction, target, ms)


def test_summarize_and_slices() -> None:
    outcomes = [_outcome("ours", "mid_line", "ab", ms=10), _outcome("ours", "block", "  ", ms=30),
                _outcome("baseline", "mid_line", "a", ms=20), _outcome("baseline", "block", "ab", ms=40,
                                                                         language="javascript")]
    ours = summarize(o for o in outcomes if o.system == "ours")
    assert ours["n"] == 2 and ours["exact_match"] == 0.5 and ours["empty_rate"] == 0.5
    assert ours["edit_similarity"] == 0.5 and ours["p50_ms"] == 20
    table = slices(outcomes)
    assert list(table) == ["all", "mid_line", "block", "javascript", "python"]
    assert table["mid_line"]["baseline"]["edit_similarity"] == 0.5
    assert table["javascript"]["ours"]["n"] == 0 and math.isnan(table["javascript"]["ours"]["exact_match"])
    text = markdown_table(table)
    assert "exact match ours / base |" in text.splitlines()[0]
    assert text.splitlines()[2].startswith("| all | 2 | 50.0% / 50.0% |")
    assert "| javascript | 0 | – / 100.0% |" in text
    three = slices(outcomes + [_outcome("baseline_cut", "mid_line", "ab", ms=5)])
    text = markdown_table(three)
    assert "exact match ours / base / cut |" in text.splitlines()[0]
    assert text.splitlines()[2].startswith("| all | 2 | 50.0% / 50.0% / 100.0% |")


def test_baseline_cut_and_budget() -> None:
    assert cut_lines("a\nb\nc", 2) == "a\nb"
    assert cut_lines("\n  x", 1) == ""
    assert cut_lines("abc", 3) == "abc"
    assert not enough_lines(2)("a\nb") and enough_lines(2)("a\nb\n") and enough_lines(1)("\n")
    assert prompt_budget(8192, 64) == 1984
    assert prompt_budget(100, 64) == 64


def test_utf16_positions_round_trip() -> None:
    text = "a = 'é'\nb = '😀'  # x\n"
    offset = text.index("#")
    position = utf16_position(text, offset)
    assert (position.line, position.character) == (1, 10)  # the emoji is two code units
    assert utf16_offset(text, position) == offset
    assert utf16_position(text, text.index("'", 1)).character == 4
    assert utf16_offset(text, types.Position(0, 99)) == text.index("\n")
    assert utf16_offset(text, types.Position(9, 0)) == len(text)


def _item(text: str, start: types.Position, end: types.Position) -> types.InlineCompletionList:
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=text,
                                                                        range=types.Range(start, end))])


def test_insertion_reads_the_first_item_and_drops_restated_typed_text() -> None:
    text = "    retu\nnext"
    cursor = types.Position(0, 8)
    assert insertion(types.InlineCompletionList(items=[]), text, 8) == ""
    assert insertion(None, text, 8) == ""
    assert insertion(_item("rn x", cursor, cursor), text, 8) == "rn x"
    assert insertion(_item("return x", types.Position(0, 4), cursor), text, 8) == "rn x"
    snippet = types.InlineCompletionItem(insert_text=types.StringValue("rn y"))
    assert insertion(types.InlineCompletionList(items=[snippet]), text, 8) == "rn y"


def test_case_is_frozen_and_hides_source_from_repr() -> None:
    case = Case("0", "python", "mid_line", "/x.py", 0, 2, 4, "abcdef")
    assert case.target == "cd" and case.document == "abef" and "abcdef" not in repr(case)


def test_dump_case_shows_cursor_line_expected_and_both_answers() -> None:
    from bench.quality import dump_case

    source = "def f(x):\n    return x + 1\n"
    start = source.index("x + 1")
    case = Case("0000-python-mid_line-f.py:2", "python", "mid_line", "f.py", 1, start, start + 5, source)
    row = {"ours": {"text": "x + 1", "similarity": 1.0}, "baseline": {"text": "x + 1\n\nprint", "similarity": 0.5},
           "baseline_cut": {"text": "", "similarity": 0.0}}
    text = dump_case(case, row)
    assert "cursor line: '    return '" in text
    assert "expected: 'x + 1'" in text and "ours    : 'x + 1'  ES 1.00" in text
    assert "naive   : 'x + 1\\n\\nprint'  ES 0.50" in text and "naive cut: ''  ES 0.00" in text


def test_baseline_answers_raw_and_cut_from_one_generation() -> None:
    """The raw answer is the whole generation (no post-processing); the cut one keeps the
    target's line count and is timed when those lines were complete."""
    from bench.baseline import NaiveBaseline
    from distill_lsp.engine.types import GenerationRequest

    class Backend:
        def __init__(self) -> None:
            self.requests: list[GenerationRequest] = []

        def encode(self, text: str) -> list[int]:
            return list(range(len(text)))

        def generate(self, request: GenerationRequest):  # type: ignore[no-untyped-def]
            self.requests.append(request)
            text = ""
            for piece in ["x + 1", "\n", "\n", "print(", "f(2))"]:
                text += piece
                assert request.stop_when is not None and not request.stop_when(text)
            return type("Result", (), {"text": text})()

    baseline = NaiveBaseline.__new__(NaiveBaseline)
    baseline.backend, baseline.budget = Backend(), 4
    baseline.settings, baseline.profile = type("S", (), {"max_new_tokens": 48})(), None
    answer = baseline.complete("def f(x):\n    return ", 1)
    assert answer.raw == "x + 1\n\nprint(f(2))" and answer.cut == "x + 1"
    assert 0 <= answer.cut_ms <= answer.raw_ms
    assert baseline.backend.requests[0].prompt_ids == [17, 18, 19, 20]  # the last `budget` tokens


def test_replay_applies_the_stop_rule_to_recorded_steps() -> None:
    from bench.replay import Steps, apply_stop_rule
    from distill_lsp.engine.types import StopReason

    steps = Steps([" a", " a\n", " a\nb", " a\nb\n"], StopReason.LENGTH)
    assert apply_stop_rule(steps, lambda t: t.count("\n") >= 1) == (" a\n", StopReason.STOP_RULE)
    assert apply_stop_rule(steps, lambda t: False) == (" a\nb\n", StopReason.LENGTH)
    assert apply_stop_rule(Steps([], StopReason.EOS), lambda t: True) == ("", StopReason.EOS)


def test_record_and_replay_answer_as_the_pipeline_does_with_further_tries() -> None:
    """A recording holds the tries the pipeline makes; replaying it gives the pipeline's
    answer, and a recording reused (`--reuse`) generates nothing that it already holds."""
    from bench.replay import record_case, replay_case, snapshot
    from distill_lsp.completion import pipeline
    from distill_lsp.completion.pipeline import CompletionConfig
    from distill_lsp.engine.types import CancelToken
    from distill_lsp.profiles import BUILTIN_PROFILES

    source = "def total(xs):\n    return sum(xs)\n"
    start = source.index("sum(xs)")
    case = Case("0000-python-mid_line-t.py:2", "python", "mid_line", "t.py", 1, start, start + 7, source)
    answers = ["]] (\nmore", ")) (\n", "sum(xs)\nnext"]
    for retries, expected in [(0, ""), (1, ""), (2, "sum(xs)")]:
        config = CompletionConfig(profile=BUILTIN_PROFILES["greedy"], max_new_tokens=16, retries=retries)
        live = pipeline.run(snapshot(case, 0), ScriptedBackend(answers), CancelToken(), config)
        backend = ScriptedBackend(answers)
        row = record_case(case, 0, backend, config)
        assert backend.calls == retries + 1 and len(row["tries"]) == retries
        replayed = replay_case(case, 0, row, backend, config)
        assert replayed.text == live.text == expected and replayed.tries == live.tries == retries + 1
        again = ScriptedBackend(answers)
        assert record_case(case, 0, again, config, earlier=row) == row and again.calls == 0
    older = {key: value for key, value in row.items() if key not in ("first", "tries")}
    assert replay_case(case, 0, older, backend, config).note == "stale"  # a try the recording lacks
