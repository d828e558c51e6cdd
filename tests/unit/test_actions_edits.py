"""From a raw model answer to a checked edit: accepted replacements, refusals, diffs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import tree_sitter
import tree_sitter_go
import tree_sitter_python
import tree_sitter_rust
import tree_sitter_typescript

from distill_lsp.actions.edits import ReplacementResult, apply_replacement, make_replacement, unified_diff
from distill_lsp.actions.prompts import ActionKind
from distill_lsp.actions.targets import find_target

GRAMMARS: dict[str, Callable[[], object]] = {
    "python": tree_sitter_python.language,
    "typescript": tree_sitter_typescript.language_typescript,
    "go": tree_sitter_go.language,
    "rust": tree_sitter_rust.language,
}

PY_BROKEN = """class Circle:
    def __init__(self, r):
        self.r = r

    def area(self)
        return 3.14 * self.r ** 2

    def name(self):
        return "circle"
"""

PY_FIXED = PY_BROKEN.replace("def area(self)\n", "def area(self):\n")

PY_OK = """class Circle:
    def area(self):
        return 3.14 * self.r ** 2
"""

TS = """class Store {
  add(item: string): void {
    this.items.push(item);
  }
}
"""

GO = """package shapes

func Area(w, h float64) float64 {
\treturn w * h
}
"""

RUST = """fn double(n: i32) -> i32 {
    n * 2
}
"""


def lang(name: str) -> tree_sitter.Language:
    return tree_sitter.Language(GRAMMARS[name]())


def replace_at(
    language: str,
    text: str,
    cursor_at: str,
    answer: str,
    kind: ActionKind,
    indent_unit: str = "    ",
    *,
    opened: bool = False,
) -> ReplacementResult:
    ts_lang = lang(language)
    tree = tree_sitter.Parser(ts_lang).parse(text.encode("utf-8"))
    cursor = text.index(cursor_at)
    target = find_target(tree, text, cursor, cursor, language)
    assert target is not None
    return make_replacement(
        text, target.start, target.end, answer, language, ts_lang, indent_unit, kind=kind, prompt_opened_think=opened
    )


FIX_ANSWER = """The signature lacks a colon.
</think>

Here is the corrected method:

```python
def area(self):
    return 3.14 * self.r ** 2
```<｜end▁of▁sentence｜>"""


def test_fix_is_reindented_into_the_class_and_parses() -> None:
    result = replace_at("python", PY_BROKEN, "3.14", FIX_ANSWER, ActionKind.FIX)
    assert result.ok, result.refusal
    assert result.reasoning == "The signature lacks a colon."
    assert apply_replacement(PY_BROKEN, result) == PY_FIXED
    assert PY_BROKEN[result.start : result.end].startswith("    def area")


def test_fix_that_still_does_not_parse_is_refused_with_its_line() -> None:
    answer = "</think>\n```python\ndef area(self):\n    return (3.14 * self.r ** 2\n```"
    result = replace_at("python", PY_BROKEN, "3.14", answer, ActionKind.FIX)
    assert not result.ok
    assert result.refusal is not None
    assert result.refusal.startswith("the model's fix still has a syntax error at line ")
    line = int(result.refusal.rsplit(" ", 1)[1])
    assert line in (5, 6)
    assert apply_replacement(PY_BROKEN, result) == PY_BROKEN


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(
            "Let me think about the colon and", "the model stopped while still reasoning", id="unclosed-think"
        ),
        pytest.param("</think>\n<|im_end|>", "the model's answer is empty", id="empty"),
        pytest.param(
            "</think>\nYou should add a colon after the parameter list.",
            "the model's answer contains no code block",
            id="prose-only",
        ),
        pytest.param(
            "</think>\n```bash\npython -m pytest\n```", "the model's answer contains no code block", id="other-language"
        ),
        pytest.param(
            "</think>\n```python\ndef area(self)\n    return 3.14 * self.r ** 2\n```",
            "the model returned the code unchanged",
            id="unchanged",
        ),
    ],
)
def test_fix_refusals(answer: str, reason: str) -> None:
    result = replace_at("python", PY_BROKEN, "3.14", answer, ActionKind.FIX, opened=True)
    assert (result.ok, result.refusal) == (False, reason)


def test_bare_code_answer_is_used_when_it_parses() -> None:
    answer = "</think>\ndef area(self):\n    return 3.14 * self.r ** 2\n"
    result = replace_at("python", PY_BROKEN, "3.14", answer, ActionKind.FIX)
    assert apply_replacement(PY_BROKEN, result) == PY_FIXED


def test_unclosed_fence_with_trailing_special_token() -> None:
    answer = "</think>\n```python\ndef area(self):\n    return 3.14 * self.r ** 2\n<|im_end|>"
    result = replace_at("python", PY_BROKEN, "3.14", answer, ActionKind.FIX)
    assert apply_replacement(PY_BROKEN, result) == PY_FIXED


DOC_ANSWER = '''```python
def area(self):
    """Return the area of the circle."""
    return 3.14 * self.r ** 2
```'''


def test_document_python_docstring_accepted() -> None:
    result = replace_at("python", PY_OK, "3.14", DOC_ANSWER, ActionKind.DOCUMENT)
    assert result.ok, result.refusal
    assert apply_replacement(PY_OK, result) == (
        'class Circle:\n    def area(self):\n        """Return the area of the circle."""\n'
        "        return 3.14 * self.r ** 2\n"
    )


def test_document_that_changes_the_code_is_refused() -> None:
    answer = DOC_ANSWER.replace("3.14", "math.pi")
    result = replace_at("python", PY_OK, "3.14", answer, ActionKind.DOCUMENT)
    assert result.refusal == "the model changed the code instead of only documenting it"


def test_document_typescript_jsdoc_two_space_indent() -> None:
    answer = (
        "```ts\n/**\n * Adds an item.\n * @param item - the item to add\n */\n"
        "add(item: string): void {\n    this.items.push(item);\n}\n```"
    )
    result = replace_at("typescript", TS, "this.items", answer, ActionKind.DOCUMENT, indent_unit="  ")
    assert result.ok, result.refusal
    assert apply_replacement(TS, result) == (
        "class Store {\n  /**\n   * Adds an item.\n   * @param item - the item to add\n   */\n"
        "  add(item: string): void {\n    this.items.push(item);\n  }\n}\n"
    )


def test_document_go_converts_spaces_to_tabs() -> None:
    answer = (
        "```go\n// Area returns the area of a w by h rectangle.\n"
        "func Area(w, h float64) float64 {\n    return w * h\n}\n```"
    )
    result = replace_at("go", GO, "return", answer, ActionKind.DOCUMENT, indent_unit="\t")
    assert apply_replacement(GO, result) == GO.replace(
        "func Area", "// Area returns the area of a w by h rectangle.\nfunc Area"
    )


def test_document_edit_that_breaks_syntax_is_refused() -> None:
    answer = "```rust\n/// Doubles n.\nfn double(n: i32) -> i32 {\n    n * 2\n```"
    result = replace_at("rust", RUST, "n * 2", answer, ActionKind.DOCUMENT)
    assert result.refusal is not None
    assert result.refusal.startswith("the model's edit introduces a syntax error at line ")


def test_mid_line_selection_keeps_the_line_prefix() -> None:
    text = "def f(r):\n    return 3.14 * r * r\n"
    start = text.index("3.14")
    end = text.index(" * r\n") + len(" * r")
    answer = "```python\nmath.pi * r ** 2\n```"
    result = make_replacement(text, start, end, answer, "python", lang("python"), "    ", kind=ActionKind.FIX)
    assert apply_replacement(text, result) == "def f(r):\n    return math.pi * r ** 2\n"
    assert result.start == start


def test_unified_diff() -> None:
    diff = unified_diff("geo/circle.py", PY_BROKEN, PY_FIXED)
    assert diff.startswith("--- a/geo/circle.py\n+++ b/geo/circle.py\n@@ ")
    assert "\n-    def area(self)\n+    def area(self):\n" in diff
    assert unified_diff("x.py", PY_OK, PY_OK) == ""


def test_unified_diff_marks_missing_final_newline() -> None:
    diff = unified_diff("x.py", "a = 1", "a = 2\n")
    assert "-a = 1\n\\ No newline at end of file\n+a = 2\n" in diff
