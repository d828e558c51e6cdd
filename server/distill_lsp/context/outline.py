"""The outline of one source file for other files' prompts: its definitions as short texts.

Functions appear as their header (the whole text when it is short); classes, structs,
interfaces and traits as their header, fields and constructor; their methods (and the
members of Rust `impl` blocks) as entries of their own, so a prompt can take just the
methods used near the cursor under their class's header. Constants as their first lines.
Each definition notes whether the file exports it (the language's rule) and the
identifiers it mentions, for ranking.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass

from tree_sitter import Node, Tree

from .languages import LanguageSpec
from .syntax import definition_name, header_text, line_end, line_start, node_str

SMALL_BODY_LINES = 4
"""Callables this short appear whole."""
CLASS_LINES = 12
"""Most lines of a class's own entry (header, fields, constructor)."""
DATA_LINES = 3
MAX_MEMBERS = 200
MAX_ENTRIES = 2000
_IDENT = re.compile(r"[^\W\d]\w*")

_CONTAINERS = frozenset({
    "module", "program", "source_file", "translation_unit", "preproc_ifdef", "preproc_if", "preproc_else",
    "preproc_elif", "linkage_specification", "declaration_list", "namespace_definition", "template_declaration",
    "export_statement", "decorated_definition", "lexical_declaration", "variable_declaration", "type_declaration",
    "const_declaration", "var_declaration", "expression_statement", "ambient_declaration",
})
_CALLABLES = frozenset({
    "function_definition", "function_declaration", "generator_function_declaration", "method_definition",
    "method_declaration", "function_item", "function_signature_item", "constructor_declaration",
    "function_signature", "method_signature", "preproc_function_def",
})
_CLASSES = frozenset({
    "class_definition", "class_declaration", "abstract_class_declaration", "interface_declaration",
    "struct_item", "enum_item", "trait_item", "impl_item", "union_item", "class_specifier", "struct_specifier",
    "enum_specifier", "union_specifier", "enum_declaration", "record_declaration", "type_spec",
})
_DATA = frozenset({
    "variable_declarator", "const_spec", "var_spec", "type_alias_declaration", "type_item", "const_item",
    "static_item", "preproc_def", "type_definition", "declaration", "assignment", "macro_definition",
    "field_declaration", "public_field_definition", "field_definition", "property_signature",
})
_BODIES = ("body", "type")
_BRACES = frozenset({"go", "rust", "java", "javascript", "typescript", "tsx", "c", "cpp"})


@dataclass(frozen=True)
class RepoDefinition:
    """One entry of a file's outline."""

    name: str
    text: str
    """What stands for it in a prompt (dedented; a member indented one level under its class)."""
    line: int
    kind: str
    """callable, class, data or member."""
    parent: str = ""
    """For a member: its class's name."""
    parent_header: str = ""
    """For a member: its class's header line, shown once above the members chosen."""
    exported: bool = True
    idents: frozenset[str] = frozenset()

    def nbytes(self) -> int:
        """An estimate of the memory it holds."""
        return (sys.getsizeof(self.text) + sys.getsizeof(self.parent_header) + sys.getsizeof(self.idents)
                + 56 * len(self.idents) + 120)


def _lines(data: bytes, node: Node) -> list[str]:
    start = line_start(data, node.start_byte)
    end = line_end(data, max(node.start_byte, node.end_byte - 1))
    return node_str(data, start, end).rstrip().splitlines()


def _elide(header: str, lang: LanguageSpec) -> str:
    """A header with its body elided: `def f(x): ...`, `func f() { ... }`."""
    header = header.rstrip()
    if lang.name == "python":
        return header + " ..." if header.endswith(":") else header
    if header.endswith("{"):
        return header + " ... }"
    return header


def _header(node: Node, data: bytes, lang: LanguageSpec) -> str:
    """`header_text` without the comment lines between a header and its body."""
    lines = header_text(node, data).split("\n")
    return "\n".join(line for line in lines if not line.strip().startswith(lang.line_comment))


def _exported(node: Node, name: str, text: str, lang: LanguageSpec) -> bool:
    if lang.name == "python":
        return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))
    if lang.name == "go":
        return name[:1].isupper()
    if lang.name == "rust":
        return text.lstrip().startswith("pub")
    if lang.name == "java":
        return "private" not in text.split("(")[0].split("{")[0]
    if lang.name in ("c", "cpp"):
        return not text.lstrip().startswith("static")
    parent = node.parent
    while parent is not None and parent.type not in ("program",):
        if parent.type == "export_statement":
            return True
        parent = parent.parent
    return False


class _Outliner:
    def __init__(self, tree: Tree, data: bytes, lang: LanguageSpec) -> None:
        self.tree, self.data, self.lang = tree, data, lang
        self.entries: list[RepoDefinition] = []
        self.exports: set[str] = set()

    def run(self) -> list[RepoDefinition]:
        self._walk(self.tree.root_node, 0)
        if self.lang.family == "js" and self.exports:  # `export default name;`, `export { a, b }`
            self.entries = [e if e.exported or e.name not in self.exports
                            else RepoDefinition(e.name, e.text, e.line, e.kind, e.parent, e.parent_header, True,
                                                e.idents) for e in self.entries]
        return self.entries

    def _walk(self, node: Node, depth: int) -> None:
        for child in node.named_children:
            if len(self.entries) >= MAX_ENTRIES:
                return
            kind = child.type
            if kind == "export_statement" and child.child_by_field_name("declaration") is None:
                self.exports.update(_IDENT.findall(node_str(self.data, child.start_byte, child.end_byte)))
            if kind == "namespace_definition" or kind in _CONTAINERS and depth < 6:
                self._walk(child.child_by_field_name("body") or child, depth + 1)
            elif kind in _CLASSES:
                self._class(child)
            elif kind in _CALLABLES:
                self._callable(child)
            elif kind in _DATA:
                self._data(child)

    def _add(self, node: Node, name: str | None, text: str, kind: str, parent: str = "", parent_header: str = "",
             exported: bool | None = None) -> None:
        if not name or not text.strip():
            return
        shown = _exported(node, name, text, self.lang) if exported is None else exported
        self.entries.append(RepoDefinition(name, text, node.start_point.row, kind, parent, parent_header, shown,
                                           frozenset(map(sys.intern, _IDENT.findall(text)))))

    def _callable(self, node: Node) -> None:
        lines = _lines(self.data, node)
        text = "\n".join(lines) if len(lines) <= SMALL_BODY_LINES else _elide(_header(node, self.data, self.lang), self.lang)
        self._add(node, definition_name(node, self.data), textwrap.dedent(text), "callable")

    def _data(self, node: Node) -> None:
        target = node
        if node.type == "assignment":
            left = node.child_by_field_name("left")
            name = node_str(self.data, left.start_byte, left.end_byte) if left is not None else None
            if name is None or not name.isidentifier():
                return
        elif node.type == "declaration" or node.type == "field_declaration":
            name = definition_name(node, self.data)
        else:
            name = definition_name(node, self.data)
        if node.type == "variable_declarator" and node.parent is not None:
            target = node.parent  # `const x = ...` with its keyword
        lines = _lines(self.data, target)
        text = "\n".join(lines[:DATA_LINES]) + (" ..." if len(lines) > DATA_LINES else "")
        self._add(node, name, textwrap.dedent(text), "data")

    def _class(self, node: Node) -> None:
        name = self._class_name(node)
        if not name:
            return
        body = self._body(node)
        lines = _lines(self.data, node)
        header = _header(node, self.data, self.lang).split("\n")[0]
        members = list(body.named_children) if body is not None else []
        callables = [m for m in members if self._member_callable(m) is not None]
        if len(lines) <= CLASS_LINES or body is None:
            own = lines[:CLASS_LINES]
        else:
            own = [header.rstrip()] + self._fields(node, members)
        self._add(node, name, textwrap.dedent("\n".join(own[:CLASS_LINES])), "class")
        if len(lines) <= CLASS_LINES:
            return
        column = len(lines[0]) - len(lines[0].lstrip())
        for member in callables[:MAX_MEMBERS]:
            target = self._member_callable(member)
            assert target is not None
            mlines = _lines(self.data, target)
            mtext = ("\n".join(mlines) if len(mlines) <= SMALL_BODY_LINES
                     else _elide(_header(target, self.data, self.lang), self.lang))
            indented = "\n".join(line[column:] if line[:column].strip() == "" else line.lstrip()
                                 for line in mtext.split("\n"))
            self._add(target, definition_name(target, self.data), indented, "member", name,
                      textwrap.dedent(header.rstrip()))

    def _class_name(self, node: Node) -> str | None:
        if node.type == "impl_item":
            kind = node.child_by_field_name("type")
            return node_str(self.data, kind.start_byte, kind.end_byte) if kind is not None else None
        return definition_name(node, self.data)

    def _body(self, node: Node) -> Node | None:
        for field in _BODIES:
            body = node.child_by_field_name(field)
            if body is not None and body.named_child_count:
                if body.type in ("struct_type", "interface_type"):
                    return next((c for c in body.named_children if c.type.endswith("_list")), body)
                return body
        return None

    def _member_callable(self, member: Node) -> Node | None:
        if member.type == "decorated_definition":
            member = member.child_by_field_name("definition") or member
        return member if member.type in _CALLABLES else None

    def _fields(self, node: Node, members: list[Node]) -> list[str]:
        """Field lines of a long class, and its constructor with what it assigns to self."""
        out: list[str] = []
        for member in members:
            if len(out) >= CLASS_LINES - 1:
                break
            target = self._member_callable(member)
            if target is None and member.type not in ("comment", "line_comment", "block_comment"):
                if member.type == "expression_statement" and member.named_children[:1] and \
                        member.named_children[0].type == "string":
                    continue  # a docstring
                out.append(_lines(self.data, member)[0])
            elif target is not None and definition_name(target, self.data) in ("__init__", "constructor"):
                out += self._constructor(target)
        return out

    def _constructor(self, node: Node) -> list[str]:
        header = _header(node, self.data, self.lang).split("\n")
        assigned = [line for line in _lines(self.data, node)[len(header):]
                    if re.match(r"\s*(self|this)\.\w+\s*(:[^=]*)?=[^=]", line)]
        return header + assigned[:CLASS_LINES]


def outline(tree: Tree, data: bytes, lang: LanguageSpec) -> list[RepoDefinition]:
    """The outline of a parsed file (see the module's docstring)."""
    return _Outliner(tree, data, lang).run()


def package_name(tree: Tree, data: bytes, lang: LanguageSpec) -> str:
    """The file's package clause (Go, Java), else ""."""
    for child in tree.root_node.named_children[:5]:
        if child.type in ("package_clause", "package_declaration"):
            words = _IDENT.findall(node_str(data, child.start_byte, child.end_byte))
            return ".".join(words[1:]) if lang.name == "java" else (words[-1] if words else "")
    return ""


def uses_braces(lang: LanguageSpec) -> bool:
    return lang.name in _BRACES
