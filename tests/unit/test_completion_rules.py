"""should_complete, decide_mode and cursor_place."""

from __future__ import annotations

import pytest
from distill_lsp.completion.rules import (
    ModeKind,
    cursor_place,
    decide_mode,
    detect_indent_unit,
    should_complete,
)
from distill_lsp.context.languages import detect_language
from distill_lsp.context.positions import encode


@pytest.mark.parametrize(
    ("line_prefix", "line_suffix", "automatic", "in_comment", "in_string", "ok", "reason"),
    [
        ("x = foo", "", True, False, False, True, ""),
        ("x = fo", "o()", True, False, False, False, "cursor inside a word"),
        ("x = fo", "o()", False, False, False, False, "cursor inside a word"),
        ("x = foo(", ")", True, False, False, True, ""),
        ("# todo: ", "", True, True, False, False, "inside a comment"),
        ("# todo: ", "", False, True, False, True, ""),
        ("    ", "return x", True, False, False, False, "before code on the line"),
        ("    ", "return x", False, False, False, True, ""),
        ('s = "', 'abc"', True, False, True, False, "inside a string before its text"),
        ('s = "', '"', True, False, True, True, ""),
        ("", "", True, False, False, True, ""),
        ("x = é", "ß", True, False, False, False, "cursor inside a word"),
    ],
)
def test_should_complete(line_prefix, line_suffix, automatic, in_comment, in_string, ok, reason) -> None:
    assert should_complete(line_prefix, line_suffix, automatic=automatic, in_comment=in_comment,
                           in_string=in_string) == (ok, reason)


@pytest.mark.parametrize(
    ("lang", "doc", "kind", "indent", "exit_width"),
    [
        ("python", "def f(x):<|>\n", ModeKind.MULTI_LINE, "    ", 1),
        ("python", "def f(x):\n    <|>", ModeKind.MULTI_LINE, "    ", 4),
        ("python", "def f(x):\n<|>", ModeKind.MULTI_LINE, "    ", 1),
        ("python", "class A:\n  def f(self):\n    x = 1\n<|>\n", ModeKind.MULTI_LINE, "    ", 4),
        ("python", "if ok:  # comment<|>", ModeKind.MULTI_LINE, "    ", 1),
        ("python", "x = foo(<|>)", ModeKind.SINGLE_LINE, "", 0),
        ("python", "x = foo(<|>", ModeKind.MULTI_LINE, "    ", 1),
        ("python", "x = 1<|>\ny = 2", ModeKind.SINGLE_LINE, "", 0),
        ("python", "x = <|>1", ModeKind.SINGLE_LINE, "", 0),
        ("python", "<|>", ModeKind.MULTI_LINE, "", 0),
        ("python", "    <|>x = 1", ModeKind.SINGLE_LINE, "", 0),
        ("go", "func f() {<|>}\n", ModeKind.MULTI_LINE, "\t", 1),
        ("go", "func f() {\n\tx := 1\n<|>\n}", ModeKind.MULTI_LINE, "\t", 4),
        ("typescript", "function f() {\n  if (x) {<|>\n  }\n}", ModeKind.MULTI_LINE, "    ", 3),
        ("typescript", "const a = [1, 2];\nfunction f() {\n  if (x) {<|>\n  }\n}", ModeKind.MULTI_LINE, "    ", 3),
        ("typescript", "function f() {\n  <|>\n}", ModeKind.MULTI_LINE, "  ", 2),
        ("typescript", "let s = f(<|>);", ModeKind.SINGLE_LINE, "", 0),
        ("rust", "fn main() {\r\n    let x = 1;<|>\r\n}", ModeKind.SINGLE_LINE, "", 0),
        ("rust", "fn main() {\r\n    let x = 1;\r\n<|>\r\n}", ModeKind.MULTI_LINE, "    ", 4),
        ("rust", "fn main() {<|>\r\n}", ModeKind.MULTI_LINE, "    ", 1),
        # an empty line above an already written body: the line here is its header
        ("javascript", "import a from 'a';\n<|>\n  if (deep) {\n    return a;\n  }\n}\n", ModeKind.SINGLE_LINE, "", 0),
        ("python", "def f(found):\n    <|>\n        return found[0]\n", ModeKind.SINGLE_LINE, "", 0),
        ("python", "def f(found):\n    <|>\n    return found[0]\n", ModeKind.MULTI_LINE, "    ", 4),
    ],
)
def test_decide_mode(lang, doc, kind, indent, exit_width) -> None:
    offset = doc.index("<|>")
    mode = decide_mode(doc.replace("<|>", ""), offset, detect_language(lang, None))
    assert (mode.kind, mode.block_indent, mode.exit_width) == (kind, indent, exit_width)
    assert mode.single_line == (kind is ModeKind.SINGLE_LINE)


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("def f():\n    return 1\n", "    "),
        ("function f() {\n  return 1;\n}\n", "  "),
        ("func f() {\n\treturn 1\n}\n", "\t"),
        ("x = 1\n", "    "),
        ("a:\n  b:\n    c:\n      d\n", "  "),
    ],
)
def test_detect_indent_unit(text, unit) -> None:
    assert detect_indent_unit(text) == unit


@pytest.mark.parametrize(
    ("lang", "doc", "in_comment", "in_string"),
    [
        ("python", "x = 1  # note<|>\n", True, False),
        ("python", "x = 1  # no<|>te\n", True, False),
        ("python", "x = 1  <|># note\n", False, False),
        ("python", 'x = "ab<|>c"\n', False, True),
        ("python", 'x = "abc"<|>\n', False, False),
        ("python", 'x = <|>"abc"\n', False, False),
        ("python", 'def f():\n    """Doc<|> string."""\n', False, True),
        ("typescript", "let a = 1; // hi<|>\n", True, False),
        ("typescript", "let a = /* x<|> */ 1;\n", True, False),
        ("typescript", "let a = /* x */<|> 1;\n", False, False),
        ("typescript", "let s = `a ${b} c<|>`;\n", False, True),
        ("go", "// 😀 emoji<|>\npackage main\n", True, False),
        ("go", 'package main\nvar s = "中<|>文"\n', False, True),
        ("rust", "fn f() { let s = \"日<|>本\"; }\n", False, True),
        ("rust", "/// doc<|>\nfn f() {}\n", True, False),
        ("rust", "fn f() { g(<|>); }\n", False, False),
    ],
)
def test_cursor_place(lang, doc, in_comment, in_string) -> None:
    spec = detect_language(lang, None)
    offset = doc.index("<|>")
    text = doc.replace("<|>", "")
    place = cursor_place(spec.parser().parse(encode(text)), text, offset, spec)
    assert (place.in_comment, place.in_string) == (in_comment, in_string)


def test_cursor_place_without_tree() -> None:
    place = cursor_place(None, "# x", 3, None)
    assert not place.in_comment and not place.in_string
