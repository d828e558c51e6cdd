"""The quality benchmark's metrics, report, naive server and LSP helpers (no model, no server;
the cases are tested in test_bench_cases.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from lsprotocol import types

from bench.baseline import cut_lines, enough_lines
from bench.cases import Case
from bench.metrics import (Outcome, coverage, coverage_table, edit_similarity, exact_match, levenshtein,
                           markdown_table, normalize, percentile, slices, summarize)
from bench.session import confidence, insertion, utf16_offset, utf16_position
from tests.fixtures.scripted_backend import ScriptedBackend


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
             language: str = "python", confidence: float | None = None) -> Outcome:
    return Outcome(system, language, kind, prediction, target, ms, confidence)


def test_summarize_and_slices() -> None:
    outcomes = [_outcome("ours", "mid_line", "ab", ms=10), _outcome("ours", "block", "  ", ms=30),
                _outcome("naive", "mid_line", "a", ms=20), _outcome("naive", "block", "ab", ms=40,
                                                                   language="javascript")]
    ours = summarize(o for o in outcomes if o.system == "ours")
    assert ours["n"] == 2 and ours["exact_match"] == 0.5 and ours["empty_rate"] == 0.5
    assert ours["edit_similarity"] == 0.5 and ours["answered_similarity"] == 1.0 and ours["p50_ms"] == 20
    assert math.isnan(summarize([_outcome("ours", "block", "")])["answered_similarity"])
    table = slices(outcomes)
    assert list(table) == ["all", "mid_line", "block", "javascript", "python"]
    assert list(table["all"]) == ["ours", "naive"]
    assert table["mid_line"]["naive"]["edit_similarity"] == 0.5
    assert table["javascript"]["ours"]["n"] == 0 and math.isnan(table["javascript"]["ours"]["exact_match"])


def test_markdown_table_puts_each_system_on_its_row_with_latency_beside_quality() -> None:
    outcomes = [_outcome("ours", "mid_line", "ab", ms=10), _outcome("ours", "block", "  ", ms=30),
                _outcome("naive", "mid_line", "a", ms=20), _outcome("naive", "block", "ab", ms=40),
                _outcome("naive_raw", "mid_line", "ab\nx", ms=50), _outcome("naive_raw", "block", "ab", ms=60)]
    lines = markdown_table(slices(outcomes), ["all", "block"]).splitlines()
    assert lines[0] == ("| slice | system | n | exact match | edit sim. | edit sim. answered | empty "
                        "| p50 ms | p95 ms |")
    assert lines[2] == "| all | ours | 2 | 50.0% | 50.0% | 100.0% | 50.0% | 20 | 29 |"
    assert lines[3] == "| all | naive | 2 | 50.0% | 75.0% | 75.0% | 0.0% | 30 | 39 |"
    assert lines[4].startswith("| all | naive raw | 2 | 50.0% |")
    assert lines[5] == "| block | ours | 1 | 0.0% | 0.0% | – | 100.0% | 30 | 30 |"
    assert len(lines) == 2 + 6


def test_coverage_counts_answered_holes_at_each_threshold() -> None:
    ours = [_outcome("ours", "mid_line", "ab", confidence=0.9), _outcome("ours", "mid_line", "ax", confidence=0.35),
            _outcome("ours", "mid_line", "", confidence=0.8), _outcome("ours", "mid_line", "zz")]
    naive = [_outcome("naive", "mid_line", p) for p in ("a", "ab", "ab", "ab")]
    rows = coverage(list(zip(ours, naive)), thresholds=(0.0, 0.3, 0.5, 0.95))
    assert [r["threshold"] for r in rows] == [0.0, 0.3, 0.5, 0.95]
    assert [r["answered"] for r in rows] == [0.75, 0.5, 0.25, 0.0]  # the empty answer never counts
    assert [r["n"] for r in rows] == [3, 2, 1, 0]
    assert rows[0]["exact_match"] == pytest.approx(1 / 3) and rows[2]["exact_match"] == 1.0
    assert rows[1]["edit_similarity"] == pytest.approx(0.75) and rows[1]["naive_similarity"] == pytest.approx(0.75)
    assert math.isnan(rows[3]["exact_match"])
    lines = coverage_table(rows).splitlines()
    assert lines[0].startswith("| confidence at least | answered | exact match among answered |")
    assert lines[3] == "| 0.30 | 50.0% | 50.0% | 75.0% | 75.0% |"
    assert lines[5] == "| 0.95 | 0.0% | – | – | – |"


def test_half_report_adds_coverage_only_when_the_server_gave_confidences() -> None:
    from bench.quality import half_report

    plain = [_outcome("ours", "mid_line", "ab"), _outcome("naive", "mid_line", "ab")]
    assert "coverage" not in half_report(plain)
    sure = [_outcome("ours", "mid_line", "ab", confidence=0.4), _outcome("naive", "mid_line", "a")]
    report = half_report(sure)
    assert report["coverage"][0]["answered"] == 1.0 and report["coverage"][-1]["answered"] == 0.0
    assert report["kinds"] == ["mid_line"] and report["languages"] == []


def test_naive_cut_lines() -> None:
    assert cut_lines("a\nb\nc", 2) == "a\nb"
    assert cut_lines("\n  x", 1) == ""
    assert cut_lines("abc", 3) == "abc"
    assert not enough_lines(2)("a\nb") and enough_lines(2)("a\nb\n") and enough_lines(1)("\n")


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


def test_confidence_is_read_from_the_first_items_command_when_given() -> None:
    def result(arguments: list[object] | None) -> types.InlineCompletionList:
        command = None if arguments is None else types.Command("accepted", "distill.accepted", arguments=arguments)
        return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text="x", command=command)])

    assert confidence(result([{"confidence": 0.42, "id": 3}])) == 0.42
    assert confidence(result([{"confidence": 1}])) == 1.0
    assert confidence(result(None)) is None
    assert confidence(result([])) is None
    assert confidence(result(["0.9"])) is None
    assert confidence(result([{"confidence": "high"}])) is None
    assert confidence(result([{"confidence": True}])) is None
    assert confidence(types.InlineCompletionList(items=[])) is None
    assert confidence(None) is None


def test_server_options_send_only_what_was_asked() -> None:
    from bench.quality import parse_args, server_options

    assert server_options(parse_args([])) == {}
    asked = parse_args(["--profile", "greedy", "--set", "maxLines=4", "--set", 'model="bundled"'])
    assert server_options(asked) == {"profile": "greedy", "maxLines": 4, "model": "bundled"}
    assert parse_args([]).half == "both" and parse_args(["--half", "heldout"]).half == "heldout"


def test_render_prints_the_machine_then_each_half() -> None:
    from bench.quality import half_report, render

    tuning = [Outcome("ours", "go", "mid_line", "ab", "ab", 5.0, 0.7, "tuning"),
              Outcome("naive", "go", "mid_line", "a", "ab", 6.0, None, "tuning"),
              Outcome("naive_raw", "go", "mid_line", "a\nb", "ab", 9.0, None, "tuning")]
    report = {"config": {"machine": {"model_name": "Some CPU", "cores": "2", "cpu_capability": "AVX2",
                                     "ATEN_CPU_CAPABILITY": "avx2"},
                         "model": "m", "device": "cpu", "options": {}, "max_new_tokens": 48, "cases": 1, "seed": 0,
                         "sources": {"go": "golang-1.19-src=1.19.8-2"}},
              "seconds_per_case": 1.5, "errors": 0, "halves": {"tuning": half_report(tuning)}}
    text = render(report)
    assert text.startswith("CPU: Some CPU (2 cores), torch CPU capability AVX2, ATEN_CPU_CAPABILITY=avx2\n")
    assert "## tuning half (1 cases)" in text and "### by mode" in text and "### by language" not in text
    assert "| mid_line | ours | 1 | 100.0% |" in text
    assert "### coverage against precision (ours)" in text and "| 0.60 | 100.0% |" in text
    assert "go: golang-1.19-src=1.19.8-2" in text
    assert text.rstrip().endswith("no post-processing (not what an editor would show)")


def test_dump_case_shows_cursor_line_expected_and_every_answer() -> None:
    from bench.quality import dump_case

    source = "def f(x):\n    return x + 1\n"
    start = source.index("x + 1")
    case = Case("t0000-python-mid_line-f.py:2", "python", "mid_line", "f.py", 1, start, start + 5, source, "tuning")
    row = {"ours": {"text": "x + 1", "similarity": 1.0, "confidence": 0.83},
           "naive": {"text": "x + 1", "similarity": 1.0}, "naive_raw": {"text": "x + 1\n\nprint", "similarity": 0.5}}
    text = dump_case(case, row)
    assert text.startswith("===== t0000-python-mid_line-f.py:2 (mid_line, tuning half)")
    assert "cursor line: '    return '" in text
    assert "expected : 'x + 1'" in text and "ours     : 'x + 1'  ES 1.00  confidence 0.83" in text
    assert "naive    : 'x + 1'  ES 1.00" in text and "naive raw: 'x + 1\\n\\nprint'  ES 0.50" in text
    del row["naive_raw"]
    assert "naive raw" not in dump_case(case, row)


class _Tokenizer:
    """One token per character; ids are code points."""

    pad_token_id = None
    eos_token_id = 0

    def __call__(self, text: str, return_tensors: str):  # type: ignore[no-untyped-def]
        import torch

        ids = torch.tensor([[ord(c) for c in text]])
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
        return type("Batch", (dict,), {"input_ids": ids, "to": lambda self, device: self})(inputs)

    def decode(self, ids, skip_special_tokens: bool) -> str:  # type: ignore[no-untyped-def]
        return "".join(chr(int(i)) for i in ids if int(i) != 0)


class _Model:
    """Writes `reply` one character a step, calling the stopping criteria after each and
    ending when they say so."""

    device = "cpu"

    def __init__(self, reply: str) -> None:
        self.reply, self.calls, self.steps = reply, [], 0

    def generate(self, input_ids, attention_mask, max_new_tokens, do_sample, pad_token_id,  # type: ignore[no-untyped-def]
                 stopping_criteria):
        import torch

        self.calls.append({"prompt": input_ids, "max_new_tokens": max_new_tokens, "do_sample": do_sample,
                           "pad": pad_token_id})
        ids = input_ids
        for char in self.reply[:max_new_tokens]:
            ids = torch.cat([ids, torch.tensor([[ord(char)]])], dim=1)
            self.steps += 1
            if bool(stopping_criteria(ids, None)[0]):
                break
        return ids


def _naive(reply: str, max_new_tokens: int = 48):  # type: ignore[no-untyped-def]
    from bench.baseline import NaiveServer

    naive = NaiveServer.__new__(NaiveServer)
    naive.model, naive.tokenizer, naive.max_new_tokens = _Model(reply), _Tokenizer(), max_new_tokens
    return naive


def test_naive_server_shows_the_first_line_and_keeps_the_whole_generation_raw() -> None:
    naive = _naive("x + 1\n\nprint(f(2))")
    prefix = "#" * 2000 + "def f(x):\n    return "
    answer = naive.complete(prefix, 1)
    assert answer.shown == "x + 1" and answer.raw == "x + 1\n\nprint(f(2))"
    assert 0 <= answer.shown_ms <= answer.raw_ms
    call = naive.model.calls[0]
    assert "".join(chr(int(i)) for i in call["prompt"][0]) == prefix[-1500:]  # the last 1,500 characters
    assert call["max_new_tokens"] == 48 and call["do_sample"] is False and call["pad"] == 0
    assert naive.model.steps == len("x + 1\n\nprint(f(2))")  # the shown answer did not stop the generation


def test_naive_server_without_the_raw_answer_stops_at_the_shown_one() -> None:
    naive = _naive("x + 1\n\nprint(f(2))")
    answer = naive.complete("def f(x):\n    return ", 1, whole=False)
    assert answer.shown == "x + 1" and answer.raw is None
    assert naive.model.steps == len("x + 1\n")


def test_naive_server_cuts_a_block_to_the_targets_lines_within_the_token_limit() -> None:
    block = _naive("a = 1\n    b = 2\n    c = 3\n").complete("def f():\n    ", 2)
    assert block.shown == "a = 1\n    b = 2"
    short = _naive("a = 1\n    b = 2\n", max_new_tokens=4).complete("x", 2)
    assert short.raw == short.shown == "a = "  # the token limit came first: shown when the generation ended


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
    from distill_lsp.completion.types import CompletionConfig
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


def test_ours_is_scored_on_as_many_first_lines_as_the_target_has_like_the_naive_server() -> None:
    """The issue's measure: the first line of a suggestion against a hole within a line, the
    target's line count for a block; the whole suggestion is scored apart ("ours, whole")."""
    from bench.metrics import scored_part

    assert scored_part("x = 1\ny = 2\n", "x = 1") == "x = 1"
    assert scored_part("a\nb\nc", "a\nb") == "a\nb"
    assert scored_part("", "a") == ""
    whole = Outcome("ours_whole", "python", "line_start", "x = 1\ny = 2", "x = 1", 1.0)
    scored = Outcome("ours", "python", "line_start", scored_part(whole.prediction, whole.target), "x = 1", 1.0)
    assert scored.exact and not whole.exact


def test_a_saved_report_is_scored_again_by_the_current_rules() -> None:
    from bench.quality import rescored

    row = {"id": "h0", "half": "heldout", "language": "python", "kind": "line_start", "target": "x = 1",
           "ours": {"text": "x = 1\ny = 2", "ms": 5.0, "confidence": 0.9}, "naive": {"text": "x = 2", "ms": 9.0}}
    report = rescored({"config": {"halves": ["heldout"]}, "cases": [row]})
    table = report["halves"]["heldout"]["slices"]["all"]
    assert table["ours"]["exact_match"] == 1.0 and table["ours_whole"]["exact_match"] == 0.0
    assert table["naive"]["exact_match"] == 0.0


def test_a_saved_row_gives_back_the_outcomes_it_was_saved_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run and `--report` build a case's outcomes one way (`outcomes_of`): rescoring the row
    a run saved gives the outcomes the run scored."""
    import argparse
    import asyncio

    from bench import quality

    async def ask(*_args: object) -> tuple[str, float, float]:
        return "x = 1\ny = 2", 5.5, 0.9

    monkeypatch.setattr(quality, "ask", ask)
    case = Case("h0", "python", "line_start", "/h0.py", 0, 0, 5, "x = 1\n", "heldout")
    naive = quality.StoredNaive({"h0": {"naive": {"text": "x = 2", "ms": 9.5},
                                        "naive_raw": {"text": "x = 2\nz", "ms": 12.5}}})
    args = argparse.Namespace(trigger="automatic", timeout=1.0, naive_raw=True)
    row, found = asyncio.run(quality._one_case(None, naive, case, 0, args, ""))
    assert [o.system for o in found] == ["ours", "naive", "ours_whole", "naive_raw"]
    assert found[0].prediction == "x = 1" and found[0].confidence == 0.9 and found[1].confidence is None
    assert quality.outcomes_of(row) == found
    without_raw = {k: v for k, v in row.items() if k != "naive_raw"}
    assert [o.system for o in quality.outcomes_of(without_raw)] == ["ours", "naive", "ours_whole"]


def test_workspace_cases_are_grouped_by_project_keeping_their_order() -> None:
    from bench import sources
    from bench.quality import by_project

    registry, go = sources.SOURCES["rust"].root, sources.SOURCES["go"].root
    paths = [("rust", registry / "b-1.0" / "src" / "lib.rs"), ("go", go / "net" / "a.go"),
             ("rust", registry / "a-1.0" / "src" / "lib.rs"), ("rust", registry / "b-1.0" / "src" / "x.rs")]
    cases = [Case(f"c{i}", lang, "mid_line", str(path), 0, 0, 1, "x") for i, (lang, path) in enumerate(paths)]
    ordered, folders = by_project(cases)
    assert folders == sorted(folders, key=str)
    assert [c.id for c in ordered if sources.project_folder(c.language, Path(c.path)) == registry / "b-1.0"] == \
        ["c0", "c3"]
    assert folders == [sources.project_folder(c.language, Path(c.path)) for c in ordered]
