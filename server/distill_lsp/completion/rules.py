"""Whether to suggest at all, and what shape of suggestion: one line or a block.

`should_complete` and `decide_mode` look at plain text; `cursor_place` asks the parse tree
whether the cursor is inside a comment or a string.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import Enum

from tree_sitter import Tree

from ..context.languages import LanguageSpec
from ..context.positions import byte_offset, encode
from ..context.syntax import comment_or_string

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w")
_CLOSERS_ONLY = re.compile(r"""[\s)\]}>"'`;,]*""")
_PY_BLOCK = re.compile(
    r"^\s*(?:async\s+)?(?:def|class|if|elif|else|for|while|try|except|finally|with|match|case)\b.*:\s*(?:#.*)?$"
)


class ModeKind(Enum):
    SINGLE_LINE = "single_line"
    MULTI_LINE = "multi_line"


@dataclass(frozen=True)
class Mode:
    """The shape of the suggestion wanted at the cursor."""

    kind: ModeKind
    block_indent: str = ""
    """Best guess of the indentation of new lines in the block the cursor is in."""
    exit_width: int = 0
    """A generated line (after the first) indented fewer columns than this has left the
    block; after an opener that is one more than the opener line's indentation, so the
    check does not depend on guessing the indentation unit."""

    @property
    def single_line(self) -> bool:
        return self.kind is ModeKind.SINGLE_LINE

    @property
    def indent_width(self) -> int:
        """Same as `exit_width` (columns, tabs counting 4)."""
        return self.exit_width


def _block_after_opener(opener_indent: str, unit: str) -> Mode:
    return Mode(ModeKind.MULTI_LINE, opener_indent + unit, indent_width(opener_indent) + 1)


def _block_at(indent: str) -> Mode:
    return Mode(ModeKind.MULTI_LINE, indent, indent_width(indent))


SINGLE_LINE = Mode(ModeKind.SINGLE_LINE)


def indent_width(indent: str, tab_size: int = 4) -> int:
    """Columns covered by leading whitespace (tabs count `tab_size`)."""
    return sum(tab_size if ch == "\t" else 1 for ch in indent)


def leading_ws(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def detect_indent_unit(text: str, default: str = "    ") -> str:
    """The document's indentation step: a tab, or the most common space increase."""
    tabs = spaces = 0
    steps: dict[int, int] = {}
    previous = 0
    for line in text.splitlines()[:2000]:
        if not line.strip():
            continue
        ws = leading_ws(line)
        tabs += ws.startswith("\t")
        spaces += ws.startswith(" ")
        width = len(ws) if not ws.startswith("\t") else previous
        if not ws.startswith("\t") and width > previous:
            steps[width - previous] = steps.get(width - previous, 0) + 1
        previous = width
    if tabs > spaces:
        return "\t"
    if not steps:
        return default
    return " " * max(steps, key=lambda k: (steps[k], -k))


def should_complete(line_prefix: str, line_suffix: str, *, automatic: bool, in_comment: bool,
                    in_string: bool) -> tuple[bool, str]:
    """Whether a suggestion can help here, and why not when it cannot."""
    if line_prefix and line_suffix and _WORD.match(line_prefix[-1]) and _WORD.match(line_suffix[0]):
        return False, "cursor inside a word"
    if automatic and in_comment:
        return False, "inside a comment"
    if automatic and not line_prefix.strip() and line_suffix.strip():
        return False, "before code on the line"
    if automatic and in_string and line_suffix[:1].isalnum():
        return False, "inside a string before its text"
    return True, ""


def _line_around(text: str, offset: int) -> tuple[str, str]:
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    end_candidates = [i for i in (text.find("\n", offset), text.find("\r", offset)) if i >= 0]
    end = min(end_candidates) if end_candidates else len(text)
    return text[start:offset], text[offset:end]


def _opens_block(code: str, lang: LanguageSpec | None, *, brackets: bool) -> bool:
    """Whether `code` ends with a block opener (`:` in Python, `{` elsewhere), or with
    any opening bracket when `brackets`."""
    stripped = code.rstrip()
    if brackets and stripped.endswith(("(", "[", "{")):
        return True
    if lang is None:
        return stripped.endswith((":", "{"))
    if lang.block_opener == ":":
        return bool(_PY_BLOCK.match(stripped)) or stripped.endswith(":")
    return stripped.endswith(lang.block_opener)


def _previous_code_line(text: str, offset: int) -> str | None:
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    for line in reversed(re.split(r"\r\n|\r|\n", text[:start])):
        if line.strip():
            return line
    return None


def _next_code_line(text: str, offset: int) -> str | None:
    end = text.find("\n", offset)
    for line in re.split(r"\r\n|\r|\n", text[end + 1:]) if end >= 0 else ():
        if line.strip():
            return line
    return None


def _opens_what_follows(text: str, offset: int, line_prefix: str) -> bool:
    """On a blank line, the next code line is indented deeper than the cursor: that body is
    already written, so the line here is its header (or a line it continues), one line."""
    following = _next_code_line(text, offset)
    return following is not None and indent_width(leading_ws(following)) > indent_width(line_prefix)


def decide_mode(text: str, offset: int, lang: LanguageSpec | None,
                indent_unit: str | None = None) -> Mode:
    """SINGLE_LINE mid-line with code to the right or after a finished statement, and on an
    empty line above deeper-indented code; MULTI_LINE after a block opener or on another
    empty line (with the block's indentation)."""
    line_prefix, line_suffix = _line_around(text, offset)
    default = "\t" if lang is not None and lang.name == "go" else "    "
    unit = indent_unit if indent_unit is not None else detect_indent_unit(text, default)
    if line_prefix.strip():
        at_end = not line_suffix.strip()
        closers_only = _CLOSERS_ONLY.fullmatch(line_suffix) is not None
        if closers_only and _opens_block(line_prefix, lang, brackets=at_end):
            return _block_after_opener(leading_ws(line_prefix), unit)
        return SINGLE_LINE
    if line_suffix.strip() or _opens_what_follows(text, offset, line_prefix):
        return SINGLE_LINE
    if line_prefix:
        return _block_at(line_prefix)
    previous = _previous_code_line(text, offset)
    if previous is None:
        return _block_at("")
    indent = leading_ws(previous)
    if _opens_block(previous, lang, brackets=True):
        return _block_after_opener(indent, unit)
    return _block_at(indent)


@dataclass(frozen=True)
class CursorPlace:
    in_comment: bool = False
    in_string: bool = False


def cursor_place(tree: Tree | None, text: str, offset: int, lang: LanguageSpec | None) -> CursorPlace:
    """Whether the cursor (a str index) is inside a comment or a string, per the parse tree."""
    if tree is None or lang is None:
        return CursorPlace()
    in_comment, in_string = comment_or_string(tree, byte_offset(text, offset), encode(text), lang)
    return CursorPlace(in_comment, in_string)
