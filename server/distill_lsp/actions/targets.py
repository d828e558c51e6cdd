"""Which range of a document an action works on, found with tree-sitter.

A non-empty selection is taken as it is. A cursor (empty selection) picks the
smallest enclosing function, method or class-like definition, widened to its
decorators / ``export`` / ``template<>`` wrapper so documentation lands above them.
The node types per language live in ``DEFINITION_TYPES``; callers may pass their own.
Offsets in and out are ``str`` indices; tree-sitter's byte offsets stay inside.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import tree_sitter

from ..context.parse_errors import error_nodes
from ..context.positions import TextOffsets, decode

logger = logging.getLogger(__name__)

_JS_DEFINITIONS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "method_definition",
    }
)

DEFINITION_TYPES: dict[str, frozenset[str]] = {
    "python": frozenset({"function_definition", "class_definition"}),
    "javascript": _JS_DEFINITIONS,
    "typescript": _JS_DEFINITIONS
    | frozenset(
        {
            "abstract_class_declaration",
            "interface_declaration",
            "enum_declaration",
            "function_signature",
            "abstract_method_signature",
        }
    ),
    "go": frozenset({"function_declaration", "method_declaration", "type_declaration"}),
    "rust": frozenset(
        {
            "function_item",
            "function_signature_item",
            "impl_item",
            "trait_item",
            "struct_item",
            "enum_item",
            "union_item",
            "macro_definition",
        }
    ),
    "java": frozenset(
        {
            "method_declaration",
            "constructor_declaration",
            "compact_constructor_declaration",
            "class_declaration",
            "interface_declaration",
            "enum_declaration",
            "record_declaration",
            "annotation_type_declaration",
        }
    ),
    "c": frozenset({"function_definition", "struct_specifier", "union_specifier", "enum_specifier"}),
    "cpp": frozenset(
        {"function_definition", "class_specifier", "struct_specifier", "union_specifier", "enum_specifier"}
    ),
}

# A function value bound to a name counts as a definition (``const f = () => {}``).
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_VALUE_BINDINGS = frozenset({"variable_declarator", "public_field_definition", "field_definition"})
# Nodes that wrap a definition and belong to it.
_WRAPPERS = frozenset(
    {
        "decorated_definition",
        "export_statement",
        "template_declaration",
        "lexical_declaration",
        "variable_declaration",
        "type_definition",
    }
)
_SPECIFIERS = frozenset({"struct_specifier", "union_specifier", "enum_specifier", "class_specifier"})
_LANGUAGE_ALIASES = {
    "typescriptreact": "typescript",
    "tsx": "typescript",
    "javascriptreact": "javascript",
    "jsx": "javascript",
    "c++": "cpp",
    "golang": "go",
}


@dataclass(frozen=True)
class Target:
    """The range an action works on: ``[start, end)`` in ``str`` offsets."""

    start: int
    end: int
    kind: str
    """``"selection"``, ``"lines"`` (the lines around the selection, where Fix falls back to) or
    the definition's node type (``"function_definition"`` ...)."""
    name: str | None = None
    """The definition's name when it has one."""


def definition_types(language: str) -> frozenset[str]:
    """The definition node types for a language id (empty when unknown)."""
    key = language.lower()
    return DEFINITION_TYPES.get(_LANGUAGE_ALIASES.get(key, key), frozenset())


def find_target(
    tree: tree_sitter.Tree,
    text: str,
    start: int,
    end: int,
    language: str,
    *,
    types: Collection[str] | None = None,
) -> Target | None:
    """The selection when non-empty, else the smallest definition around the cursor.

    Returns None for a cursor outside every definition.
    """
    if end < start:
        start, end = end, start
    if end > start:
        return Target(start, end, "selection")
    wanted = definition_types(language) if types is None else frozenset(types)
    offsets = TextOffsets(text)
    definition = _definition_at(tree, offsets.to_byte(start), wanted)
    if _python_key(language) and tree.root_node.has_error and (definition is None or _in_error(definition)):
        fallback = python_block_by_indent(text, start)
        if fallback is not None:
            return fallback
    if definition is None:
        logger.debug("no %s definition around offset %d", language, start)
        return None
    outer = _widen(definition)
    end_byte = outer.end_byte
    after = outer.next_sibling
    if after is not None and after.type == ";" and not after.is_missing:
        end_byte = after.end_byte  # C/C++ ``struct S {...};`` keeps its semicolon outside
    return Target(offsets.to_str(outer.start_byte), offsets.to_str(end_byte), definition.type, _name(definition))


def _python_key(language: str) -> bool:
    return language.lower() in ("python", "py", "python3")


def _in_error(node: tree_sitter.Node) -> bool:
    """True when the node contains a syntax error or sits inside an ERROR node."""
    if node.has_error:
        return True
    parent = node.parent
    while parent is not None:
        if parent.is_error:
            return True
        parent = parent.parent
    return False


_PY_HEADER = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?P<kw>def|class)[ \t]+(?P<name>\w+)")


def python_block_by_indent(text: str, offset: int) -> Target | None:
    """The Python ``def``/``class`` around ``offset`` found by indentation alone.

    Used when tree-sitter's error recovery misplaces a broken definition (a missing
    colon can swallow the enclosing class into an ERROR node).
    """
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    row = max(0, bisect.bisect_right(starts, offset) - 1)
    header = _python_header_above(lines, min(row, len(lines) - 1)) if lines else None
    if header is None:
        return None
    match = _PY_HEADER.match(lines[header])
    assert match is not None
    first, last = _python_decorators(lines, header), _python_block_end(lines, header)
    kind = "function_definition" if match["kw"] == "def" else "class_definition"
    return Target(starts[first], starts[last] + len(lines[last].rstrip("\r\n")), kind, match["name"])


def _indent_of(line: str) -> int:
    return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip(" \t"))


def _python_header_above(lines: list[str], row: int) -> int | None:
    limit: int | None = None
    for index in range(row, -1, -1):
        line = lines[index]
        if not line.strip():
            continue
        indent = _indent_of(line)
        if limit is None or indent < limit:  # the cursor's line, or the first non-blank line above it
            if _PY_HEADER.match(line):
                return index
            limit = indent
    return None


def _python_decorators(lines: list[str], header: int) -> int:
    first = header
    while first > 0 and lines[first - 1].lstrip().startswith("@"):
        first -= 1
    return first


def _python_block_end(lines: list[str], header: int) -> int:
    base, last = _indent_of(lines[header]), header
    for index in range(header + 1, len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        if _indent_of(line) <= base and not line.lstrip().startswith((")", "]", "}")):
            break
        last = index
    return last


def _definition_at(tree: tree_sitter.Tree, byte: int, wanted: frozenset[str]) -> tree_sitter.Node | None:
    """The definition around ``byte``; a cursor just after a definition's end counts too."""
    for probe in (byte, byte - 1) if byte > 0 else (byte,):
        node = tree.root_node.descendant_for_byte_range(probe, probe)
        definition = _enclosing_definition(node, wanted)
        if definition is not None:
            return definition
    return None


def _enclosing_definition(node: tree_sitter.Node | None, wanted: frozenset[str]) -> tree_sitter.Node | None:
    while node is not None:
        if _is_definition(node, wanted):
            return node
        inner = _wrapped_definition(node, wanted)
        if inner is not None:
            return inner
        node = node.parent
    return None


def _wrapped_definition(node: tree_sitter.Node, wanted: frozenset[str]) -> tree_sitter.Node | None:
    """The definition inside a wrapper (``export const f = () => {};`` seen from its ``;``)."""
    for child in node.named_children:
        if not _wraps(node, child):
            continue
        found = child if _is_definition(child, wanted) else _wrapped_definition(child, wanted)
        if found is not None:
            return found
    return None


def _is_definition(node: tree_sitter.Node, wanted: frozenset[str]) -> bool:
    if node.type in _SPECIFIERS:
        return node.type in wanted and node.child_by_field_name("body") is not None
    if node.type in wanted:
        return True
    parent = node.parent
    return node.type in _FUNCTION_VALUES and parent is not None and parent.type in _VALUE_BINDINGS


def _widen(node: tree_sitter.Node) -> tree_sitter.Node:
    """Climb to wrappers (decorators, export, template, declaration of a bound value)."""
    while node.parent is not None and _wraps(node.parent, node):
        node = node.parent
    return node


def _wraps(parent: tree_sitter.Node, child: tree_sitter.Node) -> bool:
    if parent.type in _WRAPPERS:
        return parent.type != "lexical_declaration" or parent.named_child_count == 1
    if child.type in _SPECIFIERS and parent.type == "declaration":
        return True
    return parent.type in _VALUE_BINDINGS and child.type in _FUNCTION_VALUES


def _name(node: tree_sitter.Node) -> str | None:
    """The defined name: a ``name`` field, an impl's type, a C declarator, a Go type spec."""
    named = node.child_by_field_name("name")
    if named is None and node.type == "impl_item":
        named = node.child_by_field_name("type")
    if named is None and node.parent is not None and node.parent.type in _VALUE_BINDINGS:
        named = node.parent.child_by_field_name("name")
    if named is None and node.type == "type_declaration" and node.named_child_count:
        named = node.named_children[0].child_by_field_name("name")
    declarator = node.child_by_field_name("declarator")
    while named is None and declarator is not None:
        inner = declarator.child_by_field_name("declarator")
        if inner is None:
            named = declarator
        declarator = inner
    if named is None or named.text is None:
        return None
    return named.text.decode("utf-8", errors="replace")


def has_syntax_error(tree: tree_sitter.Tree, start: int, end: int, text: str | None = None) -> bool:
    """True when an ERROR or MISSING node overlaps ``[start, end)`` (``str`` offsets).

    ``text`` is the parsed source; without it the tree's own source bytes are used.
    """
    return next(iter(syntax_errors(tree, start, end, text)), None) is not None


def syntax_errors(tree: tree_sitter.Tree, start: int, end: int, text: str | None = None) -> Iterator[tree_sitter.Node]:
    """ERROR and MISSING nodes overlapping ``[start, end)`` (``str`` offsets), outermost first."""
    source = text if text is not None else _tree_source(tree)
    offsets = TextOffsets(source)
    lo, hi = offsets.to_byte(start), offsets.to_byte(end)
    return error_nodes(tree.root_node, lo, max(hi, lo + 1))


def _tree_source(tree: tree_sitter.Tree) -> str:
    raw = tree.root_node.text
    if raw is None:
        raise ValueError("the tree has no source text; pass text=")
    return decode(raw)


