"""The parser's side of Fix: MISSING tokens for the prompt, one-token repairs, Python's verdict."""

from __future__ import annotations

import pytest

from distill_lsp.actions.repair import missing_tokens, python_error, single_token_repairs, unique_repair
from distill_lsp.context.languages import detect_language

MEAN = "def mean(values):\n    total = 0\n    for v in values\n        total += v\n    return total / len(values)\n"


def spec(name: str):  # type: ignore[no-untyped-def]
    found = detect_language(name, None)
    assert found is not None
    return found


@pytest.mark.parametrize(("language", "broken", "fixed"), [
    ("python", MEAN, MEAN.replace("in values\n", "in values:\n")),
    ("python", "def f(a, b):\n    return max(a, b\n\nx = 1\n", "def f(a, b):\n    return max(a, b)\n\nx = 1\n"),
    ("python", "def f(a, b):\n    x = [a, b\n    return x\n", "def f(a, b):\n    x = [a, b]\n    return x\n"),
    ("python", "class A:\n    def f(self)\n        return 1\n", "class A:\n    def f(self):\n        return 1\n"),
    ("javascript", "function f(a) {\n  if (a > 1 {\n    return a;\n  }\n}\n",
     "function f(a) {\n  if (a > 1) {\n    return a;\n  }\n}\n"),
    ("go", "package p\n\nfunc f(a int) int {\n\tx := g(a\n\treturn x\n}\n",
     "package p\n\nfunc f(a int) int {\n\tx := g(a)\n\treturn x\n}\n"),
])
def test_the_one_token_repair_restores_the_code(language: str, broken: str, fixed: str) -> None:
    lang = spec(language)
    repair = unique_repair(broken, 0, len(broken), lang.language, language)
    assert repair is not None and repair.apply(broken) == fixed


def test_a_named_missing_token_is_found_and_described() -> None:
    text = "function f(a) {\n  return g(a, 1;\n}\n"
    lang = spec("javascript")
    tree = lang.parser().parse(text.encode())
    [missing] = missing_tokens(tree, text, 0, len(text))
    assert missing.token == ")" and missing.describe(text, 0) == "line 2: missing `)` after `return g(a, 1`"
    [repair, *_] = single_token_repairs(text, 0, len(text), lang.language, "javascript")
    assert repair.named and repair.apply(text) == "function f(a) {\n  return g(a, 1);\n}\n"


def test_a_brace_that_fits_in_many_places_is_not_guessed() -> None:
    text = "function f(a) {\n  return a + 1\n\nconst x = 2;\n"
    lang = spec("javascript")
    assert len({r.apply(text) for r in single_token_repairs(text, 0, len(text), lang.language, "javascript")}) > 1
    assert unique_repair(text, 0, len(text), lang.language, "javascript") is None


def test_a_wrong_operator_is_not_repaired_into_another_operator() -> None:
    text = "def f(a):\n    if a = 1:\n        return 2\n"
    lang = spec("python")
    assert all(":=" not in r.apply(text) for r in single_token_repairs(text, 0, len(text), lang.language, "python"))


def test_good_code_needs_no_repair() -> None:
    good = MEAN.replace("in values\n", "in values:\n")
    assert single_token_repairs(good, 0, len(good), spec("python").language, "python") == []


def test_python_sees_the_indentation_tree_sitter_forgives() -> None:
    text = "def f(a):\n    x = a\n      return x\n"
    assert not spec("python").parser().parse(text.encode()).root_node.has_error
    assert python_error(text) == (3, "unexpected indent")
    assert python_error("x = 1\n") is None
    assert python_error("x = '\0'\x00") is not None  # a null byte: an error, not an exception
