"""What the parser knows about a syntax error, and the one-token repairs it can check.

`missing_tokens` lists the tokens tree-sitter names as MISSING (``MISSING ")"``): the Fix
prompt tells the model about them. `single_token_repairs` inserts one token (a colon, a
closing bracket, a comma, a semicolon) at the places around the error and keeps the
insertions after which the code parses cleanly: the deterministic repair a user expects
for "expected ':'". Python's own parser (`python_error`) checks what tree-sitter forgives
(indentation). Pure functions of the text; no model.
"""

from __future__ import annotations

import ast
import logging
import warnings
from dataclasses import dataclass

import tree_sitter

from ..context.parse_errors import error_nodes
from ..context.positions import byte_offset, encode, str_offset_of_byte
from .targets import syntax_errors

logger = logging.getLogger(__name__)

_TOKENS = {
    "python": (":", ")", "]", "}", ","),
    "go": (")", "]", "}", ",", ":"),
}
_DEFAULT_TOKENS = (")", "]", "}", ";", ",", ":")
MAX_ROWS = 6
"""Rows around the first error where an insertion is tried."""


@dataclass(frozen=True)
class MissingToken:
    """A token tree-sitter inserted to recover: ``MISSING ")"`` at ``offset`` (``str``)."""

    token: str
    offset: int
    row: int
    """0-based row in the document."""

    def describe(self, text: str, first_row: int) -> str:
        """For the prompt: the token, and the code it should follow (lines of the snippet)."""
        line_start = text.rfind("\n", 0, self.offset) + 1
        before = text[line_start:self.offset].strip()
        where = f" after `{before[-40:]}`" if before else " at the start of the line"
        return f"line {self.row - first_row + 1}: missing `{self.token}`{where}"


@dataclass(frozen=True)
class Repair:
    """``token`` inserted at ``offset`` (``str``) of the document."""

    token: str
    offset: int
    named: bool
    """True when tree-sitter itself named this token as MISSING."""

    def apply(self, text: str) -> str:
        return text[:self.offset] + self.token + text[self.offset:]


def missing_tokens(tree: tree_sitter.Tree, text: str, start: int, end: int) -> list[MissingToken]:
    """The anonymous MISSING tokens (punctuation, keywords) in ``[start, end)``."""
    found = []
    for node in syntax_errors(tree, start, end, text):
        if node.is_missing and not node.is_named and node.type.strip():
            found.append(MissingToken(node.type, str_offset_of_byte(text, node.start_byte), node.start_point.row))
    return found


def error_count(tree: tree_sitter.Tree) -> int:
    """ERROR and MISSING nodes in the whole tree."""
    count, stack = 0, [tree.root_node]
    while stack:
        node = stack.pop()
        count += node.is_error or node.is_missing
        if node.has_error:
            stack.extend(node.children)
    return count


def python_error(text: str) -> tuple[int, str] | None:
    """Python's own verdict on ``text``: (1-based line, message) of its syntax error, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are not errors
            ast.parse(text)
    except SyntaxError as exc:
        return exc.lineno or 1, exc.msg
    except (ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting
        return 1, "the code cannot be parsed"
    return None


def all_errors(tree: tree_sitter.Tree, data: bytes) -> list[tree_sitter.Node]:
    """Every ERROR and MISSING node of the document, with those at its very end (a block left
    open is closed there by a zero-width MISSING node)."""
    return list(error_nodes(tree.root_node, 0, len(data) + 1))


def errors_outside(text: str, start: int, end: int, parser: tree_sitter.Parser) -> int:
    """ERROR and MISSING nodes of ``text`` that touch neither ``[start, end]`` nor the blanks
    after it: where only blanks follow, an error at their end (the end of the document) is
    the code's own, such as the ``}`` of a block the code leaves open."""
    data = encode(text)
    tree = parser.parse(data)
    reach = len(text) - len(text[end:].lstrip())
    inside = {(n.start_byte, n.end_byte, n.type)
              for n in error_nodes(tree.root_node, byte_offset(text, start), byte_offset(text, reach) + 1)}
    return sum(1 for n in all_errors(tree, data) if (n.start_byte, n.end_byte, n.type) not in inside)


def leaves_no_new_error(old: str, start: int, end: int, new: str, new_end: int, parser: tree_sitter.Parser) -> bool:
    """True when the edited ``new`` has no syntax error but those ``old`` had away from the edit."""
    data = encode(new)
    return len(all_errors(parser.parse(data), data)) <= errors_outside(old, start, end, parser)


def region_clean(text: str, start: int, end: int, parser: tree_sitter.Parser, language: str) -> bool:
    """True when ``text`` has no syntax error in ``[start, end)`` (Python: nor anywhere Python sees one)."""
    tree = parser.parse(encode(text))
    if next(iter(syntax_errors(tree, start, end, text)), None) is not None:
        return False
    if language == "python":
        error = python_error(text)
        if error is not None:
            first, last = text.count("\n", 0, start) + 1, text.count("\n", 0, end) + 1
            return not first <= error[0] <= last + 1
    return True


def unique_repair(text: str, start: int, end: int, lang_ts: tree_sitter.Language, language: str) -> Repair | None:
    """The one-token repair when exactly one edited text comes out of all the insertions that
    parse (a missing `}` at the end of a block has many places that parse: none is chosen)."""
    repairs = single_token_repairs(text, start, end, lang_ts, language)
    texts = {repair.apply(text) for repair in repairs}
    return repairs[0] if len(texts) == 1 else None


def single_token_repairs(text: str, start: int, end: int, lang_ts: tree_sitter.Language,
                         language: str) -> list[Repair]:
    """One-token insertions in ``[start, end)`` after which that region parses cleanly and the
    document has fewer errors; tree-sitter's own MISSING tokens first, then the earliest."""
    parser = tree_sitter.Parser(lang_ts)
    tree = parser.parse(encode(text))
    errors = list(syntax_errors(tree, start, end, text))
    if not errors:
        return []
    before = error_count(tree)
    named = [Repair(m.token, m.offset, True) for m in missing_tokens(tree, text, start, end)]
    tried: set[tuple[str, int]] = set()
    found: list[Repair] = []
    for repair in [*named, *_insertions(text, start, end, errors, language)]:
        if (repair.token, repair.offset) in tried:
            continue
        tried.add((repair.token, repair.offset))
        fixed = repair.apply(text)
        new_end = end + len(repair.token)
        if (region_clean(fixed, start, new_end, parser, language) and error_count(parser.parse(encode(fixed))) < before
                and leaves_no_new_error(text, start, end, fixed, new_end, parser)):
            found.append(repair)
    logger.debug("%d one-token repairs of %d tried", len(found), len(tried))
    return found


def _insertions(text: str, start: int, end: int, errors: list[tree_sitter.Node], language: str) -> list[Repair]:
    """Candidates: each token at the end of the code of every line near the first error,
    and at the edges of the error nodes."""
    tokens = _TOKENS.get(language, _DEFAULT_TOKENS)
    first_row = min(node.start_point.row for node in errors)
    rows = range(max(0, first_row - MAX_ROWS), first_row + MAX_ROWS)
    offsets = [o for row in rows if (o := _code_end_of_row(text, row, language)) is not None]
    for node in errors[:4]:
        offsets += [str_offset_of_byte(text, node.start_byte), str_offset_of_byte(text, node.end_byte)]
    offsets = sorted({o for o in offsets if start <= o <= end})
    return [Repair(token, offset, False) for offset in offsets for token in tokens
            if not _joins_operator(text, offset, token)]


def _joins_operator(text: str, offset: int, token: str) -> bool:
    """An insertion that would make another operator (``:=`` from ``=``), not restore a token."""
    after = text[offset:].lstrip(" \t")[:1]
    return token == ":" and after == "="


def _code_end_of_row(text: str, row: int, language: str) -> int | None:
    """Where the code of a row ends (before trailing blanks and a line comment)."""
    line_start = 0
    for _ in range(row):
        line_start = text.find("\n", line_start) + 1
        if line_start == 0:
            return None
    line_end = text.find("\n", line_start)
    line = text[line_start:line_end if line_end >= 0 else len(text)]
    marker = "#" if language == "python" else "//"
    cut = line.find(marker)
    code = line[:cut] if cut >= 0 and line[:cut].count('"') % 2 == 0 and line[:cut].count("'") % 2 == 0 else line
    code = code.rstrip()
    return line_start + len(code) if code.strip() else None
