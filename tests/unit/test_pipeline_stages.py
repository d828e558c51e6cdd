"""The pipeline's own stages (the rest are tested in test_completion_*)."""

from __future__ import annotations

import pytest

from distill_lsp.completion.generate import stop_rule
from distill_lsp.completion.postprocess import drop_partial_line
from distill_lsp.completion.prompt import prompt_budget, template_for
from distill_lsp.completion.whitespace import rejoin_whitespace, split_trailing_whitespace, start_on_cursor_line
from distill_lsp.completion.rules import SINGLE_LINE, Mode, ModeKind
from distill_lsp.engine.types import StopReason
from tests.fixtures.scripted_backend import ScriptedBackend


@pytest.mark.parametrize("prompt, kept, removed", [
    ("def f():\n    ", "def f():\n   ", " "),  # `ĊĠĠĠ` stays, the model writes `Ġreturn`
    ("x = ", "x =", " "),
    ("x = 1", "x = 1", ""),
    ("a\n", "a\n", ""),  # a newline is never cut: `Ċ` + `import` is what the model saw
    ("a\n\t\t", "a\n\t\t", ""),
    ("    ", "   ", " "),
])
def test_split_trailing_whitespace(prompt, kept, removed) -> None:
    assert split_trailing_whitespace(prompt) == (kept, removed)
    assert kept + removed == prompt


@pytest.mark.parametrize("generated, removed, seen", [
    (" return 1", " ", "return 1"),
    (" 5", " ", "5"),
    ("5", " ", "5"),
    ("\n    x", " ", "\n    x"),  # ended the line: `start_on_cursor_line` decides
    ("abc", "", "abc"),
])
def test_rejoin_whitespace(generated, removed, seen) -> None:
    assert rejoin_whitespace(generated, removed) == seen


@pytest.mark.parametrize("text, line_prefix, seen", [
    ("\n    return 1", "    ", "return 1"),
    ("\n\n    a = 1\n    b = 2", "    ", "a = 1\n    b = 2"),
    ("\n        deeper()", "    ", "    deeper()"),  # deeper than the cursor: keep the extra
    ("\nimport os", "", "import os"),
    ("\n  \n", "    ", ""),
    ("return 1", "    ", "return 1"),
    ("\n5", "x = ", "\n5"),  # a line with code: single-line postprocessing drops it
])
def test_start_on_cursor_line(text, line_prefix, seen) -> None:
    assert start_on_cursor_line(text, line_prefix) == seen


def test_stop_rule_on_a_blank_line_counts_lines_from_the_first_written_one() -> None:
    block = Mode(ModeKind.MULTI_LINE, "    ", 5)
    stop = stop_rule(block, " ", max_lines=2, line_prefix="    ")
    assert not stop("\n\n     a = 1\n")
    assert stop("\n\n     a = 1\n    b = 2\n")


def test_stop_rules() -> None:
    single = stop_rule(SINGLE_LINE, " ")
    assert not single(" foo(")
    assert single(" foo()\nbar")
    block = stop_rule(Mode(ModeKind.MULTI_LINE, "    ", 5), " ")
    assert not block(" a = 1\n        b = 2\n")
    assert block(" a = 1\n    b = 2\nc = 3\n")  # dedented out of the block


def test_drop_partial_line_only_for_cut_blocks() -> None:
    block = Mode(ModeKind.MULTI_LINE, "    ", 5)
    assert drop_partial_line("a\n    b = (", StopReason.LENGTH, block) == "a"
    assert drop_partial_line("a\n    b = 1", StopReason.EOS, block) == "a\n    b = 1"
    assert drop_partial_line("a = (", StopReason.LENGTH, SINGLE_LINE) == "a = ("


def test_budget() -> None:
    assert prompt_budget(0, 8192, 48) == 2048 - 48
    assert prompt_budget(512, 8192, 48) == 464
    assert prompt_budget(0, 100, 90) == 64
    assert prompt_budget(0, 8192, 48, on_cpu=True) == 512 - 48
    assert prompt_budget(1024, 8192, 48, on_cpu=True) == 1024 - 48


class Info:
    def __init__(self, tokens, model_type):
        self.special_tokens, self.model_type = tokens, model_type


def test_reasoning_models_get_prefix_only_even_with_fim_tokens() -> None:
    fim = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
    assert template_for(Info(fim, "qwen2")).is_fim
    assert not template_for(Info((*fim, "<think>", "</think>"), "qwen2")).is_fim
    assert not template_for(Info(("<|im_start|>",), "llama")).is_fim


def _snap(lang: str, doc: str):
    from distill_lsp.completion.types import Snapshot
    from distill_lsp.context.languages import detect_language

    spec = detect_language(lang, None)
    offset = doc.index("<|>")
    text = doc.replace("<|>", "")
    return Snapshot("file:///t", 1, text, offset, spec, spec.parser().parse(text.encode()))


def test_longest_valid_head_closes_the_longest_run_that_parses() -> None:
    from distill_lsp.completion.gate import longest_valid_head

    snap = _snap("javascript", "function f(xs) {\n  <|>\n}\n")
    cut = ("return new Promise((resolve) => {\n    if (xs) {\n      resolve(xs);\n    }\n"
           "    const ys = [\n      {")
    assert longest_valid_head(cut, snap, snap.lang) == (
        "return new Promise((resolve) => {\n    if (xs) {\n      resolve(xs);\n    }\n  })")


def test_longest_valid_head_shows_the_lines_that_parse_when_the_rest_does_not() -> None:
    from distill_lsp.completion.gate import longest_valid_head

    snap = _snap("python", "def f(xs):\n    <|>\n")
    assert longest_valid_head("total = sum(xs)\n    return total +", snap, snap.lang) == "total = sum(xs)"
    assert longest_valid_head("return ]\n    x", snap, snap.lang) == ""


def test_longest_valid_head_never_closes_an_empty_bracket() -> None:
    from distill_lsp.completion.gate import longest_valid_head

    snap = _snap("javascript", "function f(x) {\n  <|>\n}\n")
    assert longest_valid_head("return (\n    isNaN(\n      parseInt(", snap, snap.lang) == ""


def test_finish_shows_a_cut_python_block_closed_only_when_the_gate_rejects_it_whole() -> None:
    from distill_lsp.completion.pipeline import postprocess_and_gate
    from distill_lsp.completion.rules import decide_mode

    snap = _snap("python", "def words(items):\n    <|>\n")
    mode = decide_mode(snap.text, snap.offset, snap.lang)
    _, shown = postprocess_and_gate("return ''.join([\n        str(item),\n        repr(item),", snap, mode, "    ", 4)
    assert shown == "return ''.join([\n        str(item),\n        repr(item),\n    ])"
    _, shown = postprocess_and_gate("x = 1\n    return ''.join([\n        str(item),", snap, mode, "    ", 4)
    assert shown == "x = 1"  # a complete line the model wrote wins over closing its brackets


def _run(backend, doc: str, retries: int):  # type: ignore[no-untyped-def]
    from distill_lsp.completion.pipeline import run
    from distill_lsp.completion.types import CompletionConfig
    from distill_lsp.engine.types import CancelToken
    from distill_lsp.profiles import BUILTIN_PROFILES

    config = CompletionConfig(profile=BUILTIN_PROFILES["greedy"], max_new_tokens=16, retries=retries)
    return run(_snap("python", doc), backend, CancelToken(), config)


def test_an_answer_post_processing_throws_away_gets_another_try_with_another_first_token() -> None:
    doc = "def total(xs):\n    return <|>\n"
    backend = ScriptedBackend(["]]] (\n", "sum(xs)\n"])
    s = _run(backend, doc, retries=1)
    assert s.text == "sum(xs)" and s.tries == 2
    assert [r.avoid_first for r in backend.requests] == [(), (ord("]"),)]
    assert backend.requests[1].cache_key == backend.requests[0].cache_key  # the prompt's cache is reused

    backend = ScriptedBackend(["]]] (\n", ")) (\n", "len(xs)\n"])
    s = _run(backend, doc, retries=2)
    assert s.text == "len(xs)" and s.tries == 3
    assert backend.requests[2].avoid_first == (ord("]"), ord(")"))


def test_no_other_try_when_off_or_answered_or_nothing_was_written() -> None:
    doc = "def total(xs):\n    return <|>\n"
    for backend, retries in [(ScriptedBackend(["]]] (\n", "sum(xs)\n"]), 0),  # off
                             (ScriptedBackend(["sum(xs)\n", "len(xs)\n"]), 1),  # a good first answer
                             (ScriptedBackend(["", "sum(xs)\n"], end=StopReason.EOS), 1),  # the model chose nothing
                             (ScriptedBackend(["]]] (", "sum(xs)\n"], end=StopReason.CANCELLED), 1)]:  # cancelled
        s = _run(backend, doc, retries)
        assert len(backend.requests) == 1 and s.tries == 1
    backend = ScriptedBackend(["]]] (\n", "sum(xs)\n"])
    backend.avoids_first_tokens = False  # e.g. an HTTP backend: a second try would repeat the first
    assert _run(backend, doc, retries=1).text == "" and len(backend.requests) == 1


@pytest.mark.parametrize("text, probs, ends, expected", [
    ("abc", [0.5, 0.5, 0.5], [1, 2, 3], 0.5),
    ("ab\ncd", [0.9, 0.9, 0.1, 0.01, 0.01], [1, 2, 3, 4, 5], 0.9 ** (2 / 3) * 0.1 ** (1 / 3)),  # to the newline
    ("\n  ab\ncd", [0.8, 0.2, 0.2, 0.01], [1, 4, 5, 8], (0.8 * 0.2 * 0.2 * 0.01) ** (1 / 4)),  # blank start
    ("abc", [], [], None),
])
def test_first_line_confidence(text, probs, ends, expected) -> None:
    from distill_lsp.completion.gate import first_line_confidence

    got = first_line_confidence(text, probs, ends)
    assert got == expected if expected is None else got == pytest.approx(expected)


def _run_config(backend, doc: str, **config):  # type: ignore[no-untyped-def]
    from distill_lsp.completion.pipeline import run
    from distill_lsp.completion.types import CompletionConfig
    from distill_lsp.engine.types import CancelToken
    from distill_lsp.profiles import BUILTIN_PROFILES

    return run(_snap("python", doc), backend, CancelToken(),
               CompletionConfig(profile=BUILTIN_PROFILES["greedy"], max_new_tokens=16, **config))


def test_an_unsure_first_line_is_not_shown_and_gets_no_other_try() -> None:
    doc = "def total(xs):\n    return <|>\n"
    answer = "sum(xs)\n"
    probs = {answer: [0.3] * len(answer)}
    shown = _run_config(ScriptedBackend([answer], probabilities=probs), doc, min_confidence=0.25, retries=1)
    assert shown.text == "sum(xs)" and shown.confidence == pytest.approx(0.3)
    backend = ScriptedBackend([answer, "len(xs)\n"], probabilities=probs)
    silent = _run_config(backend, doc, min_confidence=0.35, retries=1)
    assert silent.text == "" and silent.reason == "first line below minConfidence"
    assert len(backend.requests) == 1  # staying silent is the answer, not a reason to try again


def test_generation_ends_before_an_unsure_token() -> None:
    doc = "def total(xs):\n    return <|>\n"
    answer = "sum(xs) + extra\n"
    backend = ScriptedBackend([answer], probabilities={answer: [0.9] * 7 + [0.05] + [0.9] * 8})
    s = _run_config(backend, doc, min_token_probability=0.1)
    assert backend.requests[0].min_token_probability == 0.1
    assert s.text == "sum(xs)" and s.confidence == pytest.approx(0.9)


def test_a_mid_word_request_cuts_the_word_asks_for_it_back_and_shows_the_rest() -> None:
    """Token healing through the whole pipeline: the prompt ends before `a_pa`, the engine is
    told to begin with it, and the suggestion is what comes after it. A backend that cannot
    heal (the OpenAI one) gets the prompt as typed."""
    from distill_lsp.completion import pipeline
    from distill_lsp.completion.types import CompletionConfig
    from distill_lsp.engine.types import CancelToken
    from distill_lsp.profiles import BUILTIN_PROFILES

    class Healing(ScriptedBackend):
        heals_tokens = True

    config = CompletionConfig(profile=BUILTIN_PROFILES["greedy"], max_new_tokens=40)
    doc = "import os\n\ndef size(a_path):\n    return os.stat(a_pa<|>\n"
    healing = Healing(["a_path).st_size\n"])
    suggestion = pipeline.run(_snap("python", doc), healing, CancelToken(), config)
    request = healing.requests[0]
    assert request.start_with == "a_pa" and not request.prompt_text.endswith("a_pa")
    assert suggestion.text == "th).st_size"
    plain = ScriptedBackend(["th).st_size\n"])
    assert pipeline.run(_snap("python", doc), plain, CancelToken(), config).text == "th).st_size"
    assert plain.requests[0].start_with == "" and plain.requests[0].prompt_text.endswith("a_pa")
