"""Reading model answers: think blocks, fenced code, special tokens, re-indentation."""

from __future__ import annotations

import pytest

from distill_lsp.actions.answer import (
    bare_code,
    canonical_language,
    extract_code_block,
    fenced_blocks,
    prompt_opens_think,
    reindent,
    split_reasoning,
    strip_special_tokens,
)


@pytest.mark.parametrize(
    ("text", "opened", "expected"),
    [
        pytest.param("<think>\nplan it\n</think>\n\nThe answer.", False, ("plan it", "The answer."), id="closed"),
        pytest.param("  \n<think>a</think>b", False, ("a", "b"), id="closed-after-whitespace"),
        pytest.param("plan it\n</think>\n\nThe answer.", False, ("plan it", "The answer."), id="opening-missing"),
        pytest.param("plan it\n</think>\n\nThe answer.", True, ("plan it", "The answer."), id="opening-in-prompt"),
        pytest.param("<think>\nstill thinking about", False, ("still thinking about", ""), id="unclosed"),
        pytest.param("still thinking about", True, ("still thinking about", ""), id="unclosed-opening-in-prompt"),
        pytest.param("Just an answer.\n", False, ("", "Just an answer."), id="absent"),
        pytest.param("</think>\n\nx = 1", False, ("", "x = 1"), id="empty-reasoning"),
        pytest.param("Sure. <think>r</think> done", False, ("r", "Sure.  done"), id="text-before-block"),
        pytest.param("a</think>b</think>c", False, ("a", "b</think>c"), id="first-close-wins"),
        pytest.param("Use `<think>` tags.", False, ("", "Use `<think>` tags."), id="tag-mentioned-mid-text"),
    ],
)
def test_split_reasoning(text: str, opened: bool, expected: tuple[str, str]) -> None:
    assert split_reasoning(text, prompt_opened_think=opened) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("<｜User｜>hi<｜Assistant｜><think>\n", True),
        ("<|im_start|>assistant\n", False),
        ("<think>\n\n</think>\n\n", False),
    ],
)
def test_prompt_opens_think(prompt: str, expected: bool) -> None:
    assert prompt_opens_think(prompt) is expected


@pytest.mark.parametrize(
    ("text", "tokens", "expected"),
    [
        ("x = 1<|im_end|>", (), "x = 1"),
        ("x = 1<｜end▁of▁sentence｜>", (), "x = 1"),
        ("<think>\n</think>y", (), "\ny"),
        ("a[EOS]b", ("[EOS]",), "ab"),
        ("a <| b |> c", (), "a <| b |> c"),  # an operator, not a token
        ("<|fim_middle|>ret<|endoftext|>", ("<|endoftext|>",), "ret"),
    ],
)
def test_strip_special_tokens(text: str, tokens: tuple[str, ...], expected: str) -> None:
    assert strip_special_tokens(text, tokens) == expected


TAGGED_AND_SHELL = """Install it first:

```bash
pip install thing
```

Then:

```python
def f():
    return 1
```
"""

SEVERAL_UNTAGGED = """```
a = 1
```
and the full version:
```
a = 1
b = 2
```
"""

UNCLOSED = """Here is the fix:
```python
def f():
    return 2
"""

INDENTED_FENCE = """1. Replace the function:

    ```python
    def f():
        return 3
    ```
"""

TILDE = """~~~ts
const x = 1;
~~~
"""

LONG_FENCE = """````markdown
```python
inner
```
````
"""

ALIAS = """```py
x = 1
```
"""


@pytest.mark.parametrize(
    ("answer", "language", "expected"),
    [
        pytest.param(TAGGED_AND_SHELL, "python", "def f():\n    return 1", id="tagged-preferred"),
        pytest.param(TAGGED_AND_SHELL, "rust", None, id="only-other-languages"),
        pytest.param(TAGGED_AND_SHELL, None, "def f():\n    return 1", id="no-language-longest"),
        pytest.param(SEVERAL_UNTAGGED, "python", "a = 1\nb = 2", id="several-untagged-longest"),
        pytest.param(UNCLOSED, "python", "def f():\n    return 2", id="unclosed"),
        pytest.param(INDENTED_FENCE, "python", "def f():\n    return 3", id="indented-fence"),
        pytest.param(TILDE, "typescriptreact", "const x = 1;", id="tilde-fence-alias"),
        pytest.param(LONG_FENCE, None, "```python\ninner\n```", id="longer-outer-fence"),
        pytest.param(ALIAS, "python", "x = 1", id="py-alias"),
        pytest.param("no code here", "python", None, id="none"),
        pytest.param("Inline ```x``` only", "python", None, id="inline-backticks"),
    ],
)
def test_extract_code_block(answer: str, language: str | None, expected: str | None) -> None:
    assert extract_code_block(answer, language) == expected


def test_fenced_blocks_reports_closed_state() -> None:
    blocks = fenced_blocks(TAGGED_AND_SHELL + UNCLOSED)
    assert [(b.info, b.closed) for b in blocks] == [("bash", True), ("python", True), ("python", False)]


@pytest.mark.parametrize(
    ("language", "expected"),
    [("py", "python"), ("TSX", "typescript"), ("c++", "cpp"), ("golang", "go"), ("zig", "zig"), (None, None)],
)
def test_canonical_language(language: str | None, expected: str | None) -> None:
    assert canonical_language(language) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("def f():\n    return 1\n", "def f():\n    return 1"),
        ("Here is the fixed code for you:\ndef f(): pass", None),
        (
            "def f():\n    # This is the fixed version of it.\n    pass",
            "def f():\n    # This is the fixed version of it.\n    pass",
        ),
        ("fn main() {}\nThe function now compiles correctly.", None),
        ("", None),
    ],
)
def test_bare_code(answer: str, expected: str | None) -> None:
    assert bare_code(answer) == expected


@pytest.mark.parametrize(
    ("code", "indent", "unit", "expected"),
    [
        pytest.param("def f():\n    return 1", "    ", "    ", "    def f():\n        return 1", id="spaces"),
        pytest.param("        def f():\n            return 1", "", "    ", "def f():\n    return 1", id="dedent-first"),
        pytest.param("def f():\n    return 1", "\t", "\t", "\tdef f():\n\t\treturn 1", id="spaces-to-tabs"),
        pytest.param("func f() {\n\treturn 1\n}", "  ", "  ", "  func f() {\n    return 1\n  }", id="tabs-to-spaces"),
        pytest.param(
            "if a:\n  if b:\n    x()\n\n  y()",
            "    ",
            "    ",
            "    if a:\n        if b:\n            x()\n\n        y()",
            id="nested-2-to-4-with-blank",
        ),
        pytest.param(
            "call(a,\n     b)\nif x:\n    y()",
            "",
            "    ",
            "call(a,\n     b)\nif x:\n    y()",
            id="alignment-kept",
        ),
        pytest.param(
            "class A:\n    def f(self,\n          b):\n        pass",
            "",
            "\t",
            "class A:\n\tdef f(self,\n\t\t  b):\n\t\tpass",
            id="alignment-remainder-as-spaces",
        ),
        pytest.param("x = 1   \n   \ny = 2", "  ", "    ", "  x = 1\n\n  y = 2", id="trailing-space-blank-line"),
        pytest.param("\n\n", "  ", "    ", "", id="empty"),
    ],
)
def test_reindent(code: str, indent: str, unit: str, expected: str) -> None:
    assert reindent(code, indent, unit) == expected
