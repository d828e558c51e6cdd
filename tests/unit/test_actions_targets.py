"""Choosing the range an action works on: selection, or the definition around the cursor."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import tree_sitter
import tree_sitter_c
import tree_sitter_cpp
import tree_sitter_go
import tree_sitter_java
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_rust
import tree_sitter_typescript

from distill_lsp.actions.targets import definition_types, find_target, has_syntax_error, syntax_errors

GRAMMARS: dict[str, Callable[[], object]] = {
    "python": tree_sitter_python.language,
    "javascript": tree_sitter_javascript.language,
    "typescript": tree_sitter_typescript.language_typescript,
    "go": tree_sitter_go.language,
    "rust": tree_sitter_rust.language,
    "java": tree_sitter_java.language,
    "c": tree_sitter_c.language,
    "cpp": tree_sitter_cpp.language,
}

PYTHON = '''import os


class Greeter:
    """Says hello."""

    greeting = "hello"

    @staticmethod
    def shout(name):
        text = name.upper()
        return text + "!"

    def whisper(self, name):
        return name.lower()


def top():
    return 1
'''

TYPESCRIPT = """export class Store {
  private items: string[] = [];

  add(item: string): void {
    this.items.push(item);
  }
}

export const double = (n: number): number => {
  return n * 2;
};

interface Shape {
  area(): number;
}
"""

GO = """package shapes

type Rect struct {
\tW, H float64
}

func (r Rect) Area() float64 {
\treturn r.W * r.H
}
"""

RUST = """struct Counter {
    n: u32,
}

impl Counter {
    const START: u32 = 0;

    fn bump(&mut self) -> u32 {
        self.n += 1;
        self.n
    }
}
"""

JAVA = """class Box {
  int size;

  int grow(int by) {
    return size + by;
  }
}
"""

C = """struct point {
  int x;
};

int origin(void) {
  return 0;
}
"""

CPP = """template <typename T>
class Holder {
  T value;
  T get() const { return value; }
};
"""

JS = """function outer() {
  return [1, 2].map((x) => x * 2);
}
"""


def parse(language: str, text: str) -> tree_sitter.Tree:
    return tree_sitter.Parser(tree_sitter.Language(GRAMMARS[language]())).parse(text.encode("utf-8"))


@pytest.mark.parametrize(
    ("language", "text", "cursor_at", "kind", "name", "starts_with", "ends_with"),
    [
        pytest.param(
            "python", PYTHON, "upper()", "function_definition", "shout", "@staticmethod", '"!"', id="py-method"
        ),
        pytest.param(
            "python", PYTHON, "name.lower", "function_definition", "whisper", "def whisper", "lower()", id="py-method-2"
        ),
        pytest.param(
            "python", PYTHON, '"hello"', "class_definition", "Greeter", "class Greeter", "lower()", id="py-class-body"
        ),
        pytest.param(
            "python", PYTHON, "return 1", "function_definition", "top", "def top", "return 1", id="py-function"
        ),
        pytest.param("typescript", TYPESCRIPT, "push(", "method_definition", "add", "add(item", "}", id="ts-method"),
        pytest.param(
            "typescript",
            TYPESCRIPT,
            "private items",
            "class_declaration",
            "Store",
            "export class",
            "}",
            id="ts-class-field",
        ),
        pytest.param(
            "typescript",
            TYPESCRIPT,
            "n * 2",
            "arrow_function",
            "double",
            "export const double",
            "};",
            id="ts-arrow-const",
        ),
        pytest.param(
            "typescript",
            TYPESCRIPT,
            "area()",
            "interface_declaration",
            "Shape",
            "interface Shape",
            "}",
            id="ts-interface",
        ),
        pytest.param(
            "javascript",
            JS,
            "x * 2",
            "function_declaration",
            "outer",
            "function outer",
            "}",
            id="js-callback-not-a-definition",
        ),
        pytest.param("go", GO, "r.W", "method_declaration", "Area", "func (r Rect)", "}", id="go-method"),
        pytest.param("go", GO, "W, H", "type_declaration", "Rect", "type Rect", "}", id="go-struct"),
        pytest.param("rust", RUST, "self.n += 1", "function_item", "bump", "fn bump", "}", id="rust-method"),
        pytest.param("rust", RUST, "const START", "impl_item", "Counter", "impl Counter", "}", id="rust-impl-body"),
        pytest.param("rust", RUST, "n: u32", "struct_item", "Counter", "struct Counter", "}", id="rust-struct"),
        pytest.param("java", JAVA, "size + by", "method_declaration", "grow", "int grow", "}", id="java-method"),
        pytest.param("java", JAVA, "int size", "class_declaration", "Box", "class Box", "}", id="java-class-body"),
        pytest.param("c", C, "int x", "struct_specifier", "point", "struct point", "};", id="c-struct-keeps-semicolon"),
        pytest.param("c", C, "return 0", "function_definition", "origin", "int origin", "}", id="c-function"),
        pytest.param("cpp", CPP, "return value", "function_definition", "get", "T get", "}", id="cpp-method"),
        pytest.param(
            "cpp", CPP, "T value", "class_specifier", "Holder", "template <typename T>", "};", id="cpp-template-class"
        ),
    ],
)
def test_cursor_picks_enclosing_definition(
    language: str, text: str, cursor_at: str, kind: str, name: str, starts_with: str, ends_with: str
) -> None:
    cursor = text.index(cursor_at) + 1
    target = find_target(parse(language, text), text, cursor, cursor, language)
    assert target is not None
    assert (target.kind, target.name) == (kind, name)
    chosen = text[target.start : target.end]
    assert chosen.startswith(starts_with)
    assert chosen.endswith(ends_with)


def test_selection_is_taken_as_is() -> None:
    start, end = PYTHON.index("text ="), PYTHON.index('"!"')
    target = find_target(parse("python", PYTHON), PYTHON, end, start, "python")
    assert target is not None
    assert (target.start, target.end, target.kind) == (start, end, "selection")


def test_cursor_outside_definitions_has_no_target() -> None:
    cursor = PYTHON.index("os")
    assert find_target(parse("python", PYTHON), PYTHON, cursor, cursor, "python") is None


def test_cursor_just_after_definition_end() -> None:
    cursor = TYPESCRIPT.index("};") + 2
    target = find_target(parse("typescript", TYPESCRIPT), TYPESCRIPT, cursor, cursor, "typescriptreact")
    assert target is not None and target.name == "double"


def test_offsets_are_str_offsets_with_non_ascii_text() -> None:
    text = 's = "héllo wörld ✓"\n\ndef f():\n    return "ü"\n'
    cursor = text.index("return")
    target = find_target(parse("python", text), text, cursor, cursor, "python")
    assert target is not None
    assert text[target.start : target.end] == 'def f():\n    return "ü"'


def test_custom_types_override_the_table() -> None:
    cursor = PYTHON.index("upper()")
    target = find_target(parse("python", PYTHON), PYTHON, cursor, cursor, "python", types={"class_definition"})
    assert target is not None and target.kind == "class_definition"


def test_definition_types_aliases() -> None:
    assert definition_types("typescriptreact") == definition_types("typescript")
    assert "function_item" in definition_types("rust")
    assert definition_types("cobol") == frozenset()


BROKEN = "def ok():\n    return 1\n\ndef bad(:\n    return 2\n"


@pytest.mark.parametrize(
    ("start_at", "end_at", "expected"),
    [("def ok", "return 1", False), ("def bad", "return 2", True), ("def ok", "return 2", True)],
)
def test_has_syntax_error(start_at: str, end_at: str, expected: bool) -> None:
    tree = parse("python", BROKEN)
    start, end = BROKEN.index(start_at), BROKEN.index(end_at) + len(end_at)
    assert has_syntax_error(tree, start, end) is expected
    assert has_syntax_error(tree, start, end, BROKEN) is expected


def test_syntax_errors_reports_missing_nodes() -> None:
    text = "int f() { return 1 }\n"
    nodes = list(syntax_errors(parse("c", text), 0, len(text)))
    assert nodes and all(n.is_error or n.is_missing for n in nodes)


def test_cursor_on_decorator_picks_decorated_method() -> None:
    cursor = PYTHON.index("staticmethod")
    target = find_target(parse("python", PYTHON), PYTHON, cursor, cursor, "python")
    assert target is not None and target.name == "shout"
    assert PYTHON[target.start : target.end].startswith("@staticmethod")


PY_BROKEN = """class Circle:
    r = 1

    @property
    def area(self)
        return 3.14 * self.r ** 2

    def name(self):
        return "circle"
"""


@pytest.mark.parametrize(
    ("cursor_at", "kind", "name", "first_line", "last_line"),
    [
        ("3.14", "function_definition", "area", "    @property", "        return 3.14 * self.r ** 2"),
        ("def area", "function_definition", "area", "    @property", "        return 3.14 * self.r ** 2"),
        ("r = 1", "class_definition", "Circle", "class Circle:", '        return "circle"'),
    ],
)
def test_broken_python_falls_back_to_indentation(
    cursor_at: str, kind: str, name: str, first_line: str, last_line: str
) -> None:
    cursor = PY_BROKEN.index(cursor_at)
    target = find_target(parse("python", PY_BROKEN), PY_BROKEN, cursor, cursor, "python")
    assert target is not None
    assert (target.kind, target.name) == (kind, name)
    lines = PY_BROKEN[target.start : target.end].split("\n")
    assert (lines[0], lines[-1]) == (first_line, last_line)


def test_python_definition_lost_in_error_recovery_is_found_by_indentation() -> None:
    text = "x = [1,\n\ndef f(a:\n    return a\n"
    cursor = text.index("return")
    target = find_target(parse("python", text), text, cursor, cursor, "python")
    assert target is not None
    assert (text[target.start : target.end], target.name) == ("def f(a:\n    return a", "f")
