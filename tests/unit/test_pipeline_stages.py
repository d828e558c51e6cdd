"""The pipeline's own stages (the rest are tested in test_completion_*)."""

from __future__ import annotations

import pytest

from distill_lsp.completion.pipeline import (drop_partial_line, prompt_budget, rejoin_whitespace,
                                             split_trailing_whitespace, stop_rule, template_for)
from distill_lsp.completion.rules import SINGLE_LINE, Mode, ModeKind
from distill_lsp.engine.types import StopReason


@pytest.mark.parametrize("prompt, kept, removed", [
    ("def f():\n    ", "def f():", "\n    "),
    ("x = ", "x =", " "),
    ("x = 1", "x = 1", ""),
    ("a\n", "a", "\n"),
    ("a\n\t\t", "a", "\n\t\t"),
    ("    ", "", "    "),
])
def test_split_trailing_whitespace(prompt, kept, removed) -> None:
    assert split_trailing_whitespace(prompt) == (kept, removed)
    assert kept + removed == prompt


@pytest.mark.parametrize("generated, removed, seen", [
    ("\n    return 1", "\n    ", "return 1"),
    (" 5", " ", "5"),
    ("5", " ", "5"),
    ("\n        deeper()", "\n    ", "    deeper()"),  # deeper than the cursor: keep the extra
    ("(x)\n    y", "\n    ", ""),   # went on with the previous line: unusable
    ("abc", "", "abc"),
])
def test_rejoin_whitespace(generated, removed, seen) -> None:
    assert rejoin_whitespace(generated, removed) == seen


def test_stop_rules() -> None:
    single = stop_rule(SINGLE_LINE, " ")
    assert not single(" foo(")
    assert single(" foo()\nbar")
    block = stop_rule(Mode(ModeKind.MULTI_LINE, "    ", 5), "\n    ")
    assert not block("\n    a = 1\n        b = 2\n")
    assert block("\n    a = 1\n    b = 2\nc = 3\n")  # dedented out of the block


def test_drop_partial_line_only_for_cut_blocks() -> None:
    block = Mode(ModeKind.MULTI_LINE, "    ", 5)
    assert drop_partial_line("a\n    b = (", StopReason.LENGTH, block) == "a"
    assert drop_partial_line("a\n    b = 1", StopReason.EOS, block) == "a\n    b = 1"
    assert drop_partial_line("a = (", StopReason.LENGTH, SINGLE_LINE) == "a = ("


def test_budget() -> None:
    assert prompt_budget(0, 8192, 48) == 2048 - 48
    assert prompt_budget(512, 8192, 48) == 464
    assert prompt_budget(0, 100, 90) == 64


class Info:
    def __init__(self, tokens, model_type):
        self.special_tokens, self.model_type = tokens, model_type


def test_reasoning_models_get_prefix_only_even_with_fim_tokens() -> None:
    fim = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
    assert template_for(Info(fim, "qwen2")).is_fim
    assert not template_for(Info((*fim, "<think>", "</think>"), "qwen2")).is_fim
    assert not template_for(Info(("<|im_start|>",), "llama")).is_fim
