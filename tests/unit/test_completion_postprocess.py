"""postprocess stages and the syntax gate."""

from __future__ import annotations

import pytest
from distill_lsp.completion.postprocess import (
    balance_brackets,
    bracket_depth,
    close_brackets,
    cut_at_block_end,
    drop_repeated_lines,
    line_cap_reached,
    match_indent_style,
    postprocess,
    strip_line_suffix_overlap,
    strip_suffix_lines,
)
from distill_lsp.completion.gate import syntax_gate
from distill_lsp.completion.rules import SINGLE_LINE, Mode, ModeKind, decide_mode
from distill_lsp.context.languages import detect_language


def multi(indent: str) -> Mode:
    return Mode(ModeKind.MULTI_LINE, indent, len(indent))


@pytest.mark.parametrize(
    ("raw", "line_suffix", "expected"),
    [
        ("a, b)", ")", "a, b"),
        ("g(x)", ")", "g(x)"),  # its own bracket, not the suffix's
        ("1, 2);", ");", "1, 2"),
        ("x > 0) {", ") {", "x > 0"),
        ("a, b", ")", "a, b"),
        ("name]", "]", "name"),
        ("", ")", ""),
        ("value", "", "value"),
    ],
)
def test_strip_line_suffix_overlap(raw, line_suffix, expected) -> None:
    assert strip_line_suffix_overlap(raw, line_suffix) == expected


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("\n    return 1\n}", "}\n", "\n    return 1"),
        ("\n    x = 1\n    y = 2\nprint(y)\nprint(z)", "\nprint(y)\nprint(z)\n", "\n    x = 1\n    y = 2"),
        ("\n    total = 0\n    for r in rows:", "\n    for r in rows:\n        total += r\n", "\n    total = 0"),
        ("\n    a = 1\n    b = 2", "\n    c = 3\n", "\n    a = 1\n    b = 2"),
        ("\n  x();\n}", "", "\n  x();\n}"),
    ],
)
def test_strip_suffix_lines(text, suffix, expected) -> None:
    assert strip_suffix_lines(text, suffix) == expected


@pytest.mark.parametrize(
    ("text", "prefix", "line_suffix", "expected"),
    [
        ("a, b)) + 1", "x = f(", "", "a, b)"),
        ("a, b)", "x = f(", ")", "a, b"),
        ("g(h(1)), 2]", "xs = [", "", "g(h(1)), 2]"),
        ("1]", "x = (", "", "1"),
        ("return 1\n}\n}", "function f() {\n", "", "return 1\n}"),
        ('print(")")', "", "", 'print(")")'),
        ("x)", 'y = ")"; f(', "", "x)"),
    ],
)
def test_balance_brackets(text, prefix, line_suffix, expected) -> None:
    assert balance_brackets(text, prefix, line_suffix) == expected


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("\n    x = 1\n    return x\nprint(f())", multi("    "), "\n    x = 1\n    return x"),
        ("x = 1\n\n    y = 2\n  z", multi("    "), "x = 1\n\n    y = 2"),
        ("def g():\n    return 1\n\n\ndef h():\n    pass", multi(""), "def g():\n    return 1\n\n"),
        ("\n".join(f"    x{i}" for i in range(40)), multi("    "), "\n".join(f"    x{i}" for i in range(24))),
    ],
)
def test_cut_at_block_end(text, mode, expected) -> None:
    assert cut_at_block_end(text, mode) == expected


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("x\n    y\n        z", "\t", "x\n\ty\n\t\tz"),
        ("x\n  y\n    z", "\t", "x\n\ty\n\t\tz"),
        ("x\n\ty\n\t\tz", "    ", "x\n    y\n        z"),
        ("x\n\ty", "  ", "x\n  y"),
        ("\tx\n    y", "    ", "\tx\n    y"),  # the first line continues the cursor's line
    ],
)
def test_match_indent_style(text, unit, expected) -> None:
    assert match_indent_style(text, unit) == expected


@pytest.mark.parametrize(
    ("text", "prefix", "suffix", "expected"),
    [
        ("x = compute(a)", "y = 2\nx = compute(a)\n", "", ""),
        ("compute(a)", "x = compute(a)\nx = ", "", ""),
        ("\n    return total", "def f():\n    return total\ndef g():", "\n", ""),
        ("x = compute(b)", "x = compute(a)\n", "", "x = compute(b)"),
        ("}", "if (a) {\n}\nif (b) {\n", "", "}"),
    ],
)
def test_drop_repeated_lines(text, prefix, suffix, expected) -> None:
    assert drop_repeated_lines(text, prefix, suffix) == expected


@pytest.mark.parametrize(
    ("lang", "doc", "raw", "expected"),
    [
        # single line: cut at the end of the line, strip the closer the suffix already has
        ("python", "total = compute(<|>)\n", "rows, tax=0.2)\nprint(total)", "rows, tax=0.2"),
        ("python", "x = <|>\n", "  \n", ""),
        ("python", "x = 1  <|>\n", "\nprint(x)", ""),
        # multi line after an opener: stop at the dedent
        ("python", "def area(r):<|>\n", "\n    return 3.14 * r * r   \n\nprint(area(2))",
         "\n    return 3.14 * r * r"),
        ("python", "def area(r):\n    <|>\n\nx = 1\n", "return r * r\n  \nx = 1", "return r * r"),
        # tabs in a Go document
        ("go", "func f() int {\n\tx := 1\n\t<|>\n}\n",
         "if x > 0 {\n        return x\n    }\n    return 0\n}\n\nfunc g() {}", "if x > 0 {\n\t\treturn x\n\t}\n\treturn 0"),
        # braces: no duplicated closing brace from the suffix
        ("typescript", "function f(a: number) {<|>}\n", "\n  return a + 1;\n}\n", "\n  return a + 1;"),
        ("typescript", "function f(a: number) {\n  <|>\n}\n", "return a + 1;\n}\n}", "return a + 1;"),
        ("rust", "fn main() {\n    let v = vec![<|>];\n}\n", "1, 2, 3];", "1, 2, 3"),
        ("rust", "fn main() {\n    let v = vec![1];\n    <|>\n}\n", "let v = vec![1];", ""),
        ("python", "x = [<|>\n", "1, 2]]\n", "1, 2]"),
    ],
)
def test_postprocess(lang, doc, raw, expected) -> None:
    spec = detect_language(lang, None)
    offset = doc.index("<|>")
    text = doc.replace("<|>", "")
    mode = decide_mode(text, offset, spec)
    unit = "\t" if lang == "go" else ("  " if lang == "typescript" else "    ")
    got = postprocess(raw, prefix=text[:offset], suffix=text[offset:], mode=mode, indent_unit=unit)
    assert got == expected


def test_postprocess_single_line_mode_drops_leading_newline() -> None:
    assert postprocess("\nfoo", prefix="x = ", suffix="", mode=SINGLE_LINE, indent_unit="    ") == ""


def test_postprocess_crlf_output() -> None:
    got = postprocess("\r\n    a = 1\r\n    b = 2\r\nc", prefix="def f():", suffix="\r\n",
                      mode=multi("    "), indent_unit="    ")
    assert got == "\n    a = 1\n    b = 2"


@pytest.mark.parametrize(
    ("lang", "doc", "candidate", "expected"),
    [
        ("python", "def f(x):\n    <|>\n", "y = x + 1\n    return y\n  ) oops", "y = x + 1\n    return y"),
        ("python", "def f(x):\n    <|>\n", "return x", "return x"),
        ("python", "x = <|>\n", ") + (", ""),
        ("python", "x = foo(<|>\n", "1, 2)", "1, 2)"),  # fixes an existing error: accepted
        ("go", "package main\n\nfunc f() int {\n\t<|>\n}\n", "if true {\n\t\treturn 1\n\t}\n\treturn 2\n\t}}",
         "if true {\n\t\treturn 1\n\t}\n\treturn 2"),
        ("typescript", "function f() {\n  <|>\n}\n", "const a = 1;\n  const b = ;", "const a = 1;"),
        ("rust", "fn main() {\n    <|>\n}\n", "let s = \"日本\";\n    println!(\"{}\", s);", "let s = \"日本\";\n    println!(\"{}\", s);"),
        ("rust", "fn main() {\n    <|>\n}\n", "let s = 😀 ];", ""),
        # the document is broken at the cursor (its header was cut out, so the `}` below is an
        # error): a header that mends that and makes an error of its own keeps the count, and
        # is still rejected; a valid one is taken
        ("javascript", "/** Sorts. */\n<|>\n  return sortBy(array, value);\n}\n",
         "var _.sortBy = function(array, value) {", ""),
        ("javascript", "/** Sorts. */\n<|>\n  return sortBy(array, value);\n}\n",
         "function sorted(array, value) {", "function sorted(array, value) {"),
    ],
)
def test_syntax_gate(lang, doc, candidate, expected) -> None:
    spec = detect_language(lang, None)
    offset = doc.index("<|>")
    assert syntax_gate(doc.replace("<|>", ""), offset, candidate, spec) == expected


@pytest.mark.parametrize(
    ("text", "depth"),
    [("f(a, [b", 2), ("f(a)", 0), ("x])", -2), ('s = "(["', 0), ("{\n  a: [1,\n", 2)],
)
def test_bracket_depth(text, depth) -> None:
    assert bracket_depth(text) == depth


def test_line_cap_waits_for_the_statement_to_close() -> None:
    lines = ["return ''.join([", "    a,", "    b,"]
    assert not line_cap_reached(lines, 3)  # still inside `([`
    assert line_cap_reached([*lines, "])"], 3)
    assert line_cap_reached(["a = 1", "b = 2", "c = 3"], 3)
    assert not line_cap_reached(["a = 1", "b = 2"], 3)


def test_cut_at_block_end_does_not_cut_inside_brackets() -> None:
    text = "return ''.join([\n        a,\n        b,\n        c,\n    ])\n    x = 1\n    y = 2"
    assert cut_at_block_end(text, multi("    "), max_lines=3) == "return ''.join([\n        a,\n        b,\n        c,\n    ])"
    assert cut_at_block_end("a = 1\n    b = 2\n    c = 3", multi("    "), max_lines=2) == "a = 1\n    b = 2"


def _at_cursor(lang: str, doc: str):  # type: ignore[no-untyped-def]
    """(language, text, cursor offset, mode) of `doc`, whose cursor is marked `<|>`."""
    spec = detect_language(lang, None)
    offset = doc.index("<|>")
    text = doc.replace("<|>", "")
    return spec, text, offset, decide_mode(text, offset, spec)


def test_block_cut_by_the_line_cap_inside_brackets_survives_the_gate() -> None:
    """The cap used to cut this after three lines, inside `([`: the gate then rejected all of it."""
    raw = "return ''.join([\n        str(item)\n        for item in items\n    ])\n    print('never')"
    spec, text, offset, mode = _at_cursor("python", "def words(items):\n    <|>\n\n\nprint(words([]))\n")
    shown = postprocess(raw, prefix=text[:offset], suffix=text[offset:], mode=mode, indent_unit="    ", max_lines=3)
    assert syntax_gate(text, offset, shown, spec) == "return ''.join([\n        str(item)\n        for item in items\n    ])"


def test_strip_suffix_lines_keeps_a_closer_at_another_depth() -> None:
    """The `}` closing the generated `if` is not the `}` of the enclosing block below."""
    text = "if (ready) {\n        start();\n      }"
    assert strip_suffix_lines(text, "\n    }\n  }\n") == text
    assert strip_suffix_lines("x = 1;\n    }", "\n    }\n") == "x = 1;"  # same depth: the next line again


def test_postprocess_keeps_a_closed_js_block_before_the_enclosing_brace() -> None:
    raw = "if (typeof a !== 'undefined') {\n      run(a);\n    }"
    spec, text, offset, mode = _at_cursor("javascript", "function f(a) {\n  if (a) {\n    <|>\n  }\n  return a;\n}\n")
    shown = postprocess(raw, prefix=text[:offset], suffix=text[offset:], mode=mode, indent_unit="  ")
    assert shown == raw
    assert syntax_gate(text, offset, shown, spec) == raw


def test_drop_repeated_lines_mid_line_looks_only_at_adjacent_lines() -> None:
    prefix = ("    if file is None:\n        with open(name) as opened:\n            return load(name, opened)\n"
              "    else:\n        return load(na")
    # the same call three lines up, in the other branch: a real answer here
    assert drop_repeated_lines("me, opened)", prefix, "\n    return None\n") == "me, opened)"
    # the line right above repeated: a loop
    assert drop_repeated_lines("me, opened)", "    return load(name, opened)\n    return load(na", "\n") == ""
    # nothing typed on the line: the wider window still applies
    assert drop_repeated_lines("x = 1", "x = 1\ny = 2\nz = 3\n", "\n") == ""


def test_close_brackets_closes_each_opening_line_at_its_indentation() -> None:
    text = "return new Promise((resolve) => {\n    if (ready) {\n      resolve(1);\n    }\n    const xs = ["
    assert close_brackets(text, "  ") == text + "\n    ]\n  })"
    assert close_brackets("a = 1", "    ") == "a = 1"
