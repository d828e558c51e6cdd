"""Questions asked of a tree-sitter tree: definitions and their names, signature and header
lines, the scopes around a byte, the file's imports, whether a byte is in a comment/string.

Everything here works on the UTF-8 bytes the tree was parsed from.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from tree_sitter import Node, Tree

from .languages import LanguageSpec

logger = logging.getLogger(__name__)

MAX_HEADER_LINES = 6
MAX_DATA_LINES = 8
MAX_DEFINITIONS = 5000
_CALLABLE_WORDS = ("function", "method", "constructor", "func", "arrow", "lambda", "closure")
_CLASS_WORDS = ("class", "impl", "namespace", "mod_item", "trait", "internal_module")
_CONSTRUCTORS = frozenset({"__init__", "constructor", "new"})


@dataclass(frozen=True)
class Definition:
    """A named definition and the text that stands for it in a prompt."""

    name: str
    start_byte: int
    end_byte: int
    signature: str


def node_str(data: bytes, start: int, end: int) -> str:
    return data[start:end].decode("utf-8", "replace")


def line_start(data: bytes, byte: int) -> int:
    return data.rfind(b"\n", 0, byte) + 1


def line_end(data: bytes, byte: int) -> int:
    end = data.find(b"\n", byte)
    return len(data) if end < 0 else end


def definition_name(node: Node, data: bytes) -> str | None:
    """The defined name: the `name` field, or the identifier at the end of a declarator chain."""
    current: Node | None = node
    for _ in range(8):
        if current is None:
            return None
        name = current.child_by_field_name("name")
        if name is not None:
            return node_str(data, name.start_byte, name.end_byte)
        nxt = current.child_by_field_name("declarator")
        if nxt is None:
            break
        if nxt.child_count == 0:
            return node_str(data, nxt.start_byte, nxt.end_byte)
        current = nxt
    return None


def _body(node: Node) -> Node | None:
    body = node.child_by_field_name("body")
    if body is None:
        value = node.child_by_field_name("value")
        if value is not None:
            body = value.child_by_field_name("body")
    return body


def header_text(node: Node, data: bytes) -> str:
    """The lines of `node` before its body (whole lines, indentation kept)."""
    start = line_start(data, node.start_byte)
    body = _body(node)
    if body is None:
        end = line_end(data, node.start_byte)
    else:
        body_line = line_start(data, body.start_byte)
        own_line = data[body_line:body.start_byte].strip() == b"" and body_line > start
        end = body_line - 1 if own_line else line_end(data, body.start_byte)
    lines = node_str(data, start, max(start, end)).rstrip().splitlines()
    return "\n".join(lines[:MAX_HEADER_LINES])


def _kind(node: Node) -> str:
    kind = node.type
    value = node.child_by_field_name("value")
    if kind == "variable_declarator" and value is not None:
        kind = value.type
    if any(word in kind for word in _CALLABLE_WORDS):
        return "callable"
    if any(word in kind for word in _CLASS_WORDS):
        return "class"
    return "data"


def _constructor_header(node: Node, data: bytes, lang: LanguageSpec) -> str:
    body = node.child_by_field_name("body")
    for child in body.named_children if body is not None else ():
        if child.type in lang.definitions and definition_name(child, data) in _CONSTRUCTORS:
            return header_text(child, data)
        if child.type == "constructor_declaration":
            return header_text(child, data)
    return ""


def signature(node: Node, data: bytes, lang: LanguageSpec) -> str:
    """What stands for a definition in a prompt: its header, plus the constructor for classes;
    the whole (short) text for data definitions. Dedented, no trailing newline."""
    kind = _kind(node)
    if kind == "data":
        start = line_start(data, node.start_byte)
        end = line_end(data, max(node.start_byte, node.end_byte - 1))
        lines = node_str(data, start, end).rstrip().splitlines()
        if len(lines) > MAX_DATA_LINES:
            lines = [*lines[:MAX_DATA_LINES], lang.comment("...")]
        text = "\n".join(lines)
    else:
        text = header_text(node, data)
        if kind == "class":
            ctor = _constructor_header(node, data, lang)
            text = f"{text}\n{ctor}" if ctor else text
    return textwrap.dedent(text)


def iter_definitions(root: Node, lang: LanguageSpec) -> Iterator[Node]:
    """Definition nodes in document order (bounded)."""
    seen = 0
    stack = [root]
    while stack and seen < MAX_DEFINITIONS:
        node = stack.pop()
        seen += 1
        if node.type in lang.definitions:
            yield node
        stack.extend(reversed(node.named_children))


def definitions(tree: Tree, data: bytes, lang: LanguageSpec,
                names: Collection[str] | None = None) -> list[Definition]:
    """Named definitions in document order (only those of `names` when given)."""
    out: list[Definition] = []
    for node in iter_definitions(tree.root_node, lang):
        name = definition_name(node, data)
        if name and (names is None or name in names):
            out.append(Definition(name, node.start_byte, node.end_byte, signature(node, data, lang)))
    return out


def enclosing_scopes(tree: Tree, byte: int, lang: LanguageSpec, data: bytes) -> list[Node]:
    """Scope nodes around a cursor at `byte`, outermost first.

    A scope that ended before the cursor still counts when only whitespace lies between
    and the cursor is indented deeper than the scope's first line (Python blocks end at
    their last statement, not at the blank line being typed on).
    """
    last = len(data[:byte].rstrip())
    probe = max(0, last - 1)
    column = byte - line_start(data, byte)
    node: Node | None = tree.root_node.descendant_for_byte_range(probe, max(probe, last))
    scopes: list[Node] = []
    while node is not None:
        if node.type in lang.scopes and node.start_byte < byte:
            inside = byte <= node.end_byte
            trailing = node.end_byte <= byte and column > node.start_point.column
            if inside or (trailing and not data[node.end_byte:byte].strip()):
                scopes.append(node)
        node = node.parent
    return scopes[::-1]


def top_level_imports(tree: Tree, lang: LanguageSpec) -> list[Node]:
    return [n for n in tree.root_node.named_children if n.type in lang.imports]


def _is_line_comment(node: Node, data: bytes, lang: LanguageSpec) -> bool:
    return data[node.start_byte:node.end_byte].startswith(lang.line_comment.encode())


def comment_or_string(tree: Tree, byte: int, data: bytes, lang: LanguageSpec) -> tuple[bool, bool]:
    """(in a comment, in a string) for a cursor at `byte`.

    A cursor at the very end of a line comment is inside it; at the end of a string or a block
    comment (after the closing delimiter) it is not.
    """
    in_comment = in_string = False
    probes = {byte} | ({byte - 1} if byte > 0 else set())
    for probe in probes:
        node: Node | None = tree.root_node.descendant_for_byte_range(probe, probe)
        while node is not None:
            if node.type in lang.comments:
                inside = node.start_byte < byte < node.end_byte
                at_end = byte == node.end_byte and _is_line_comment(node, data, lang)
                in_comment = in_comment or inside or at_end
            elif node.type in lang.strings:
                in_string = in_string or node.start_byte < byte < node.end_byte
            node = node.parent
    return in_comment, in_string
