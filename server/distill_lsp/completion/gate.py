"""The gates a suggestion passes last: the syntax gate keeps only the lines that do not
break the document's parse; the confidence gate drops a first line the model was unsure of."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from tree_sitter import Parser, Point, Tree

from ..context.languages import LanguageSpec
from ..context.parse_errors import count_errors, error_within
from ..context.positions import advance_point, byte_offset, encode, ts_point
from .postprocess import MAX_GATE_LINES, bracket_depth, close_brackets
from .rules import leading_ws
from .types import Snapshot

logger = logging.getLogger(__name__)

GATE_WINDOW_CHARS = 64_000
UNSURE = "first line below minConfidence"


def _parse_with(parser: Parser, base: Tree, text: str, offset: int, inserted: str) -> Tree:
    tree = base.copy()
    start_byte = byte_offset(text, offset)
    point = ts_point(text, offset)
    tree.edit(start_byte=start_byte, old_end_byte=start_byte,
              new_end_byte=start_byte + len(encode(inserted)), start_point=Point(*point),
              old_end_point=Point(*point), new_end_point=Point(*advance_point(point, inserted)))
    return parser.parse(encode(text[:offset] + inserted + text[offset:]), tree)


def gate_window(text: str, offset: int, chars: int = GATE_WINDOW_CHARS) -> tuple[str, int]:
    """Whole lines around the cursor in a document too big to re-parse per candidate
    (the text and the cursor's index in it); small documents whole."""
    if len(text) <= chars:
        return text, offset
    start = text.rfind("\n", 0, max(0, offset - chars // 2)) + 1
    end = text.find("\n", min(len(text), offset + chars // 2))
    end = len(text) if end < 0 else end
    return text[start:end], offset - start


def syntax_gate(text: str, offset: int, candidate: str, lang: LanguageSpec) -> str:
    """The longest run of the candidate's first lines that, inserted at `offset`, adds no
    ERROR/MISSING node to the document's parse and has none within its own text ("" when
    even the first line fails). The second rule matters where the document is already
    broken at the cursor: a candidate that mends that error and makes one of its own
    keeps the count the same."""
    text, offset = gate_window(text, offset)
    parser = lang.parser()
    base = parser.parse(encode(text))
    allowed = count_errors(base.root_node)
    start = byte_offset(text, offset)
    lines = candidate.split("\n")[:MAX_GATE_LINES]
    for k in range(len(lines), 0, -1):
        part = "\n".join(lines[:k])
        if not part.strip():
            break
        tree = _parse_with(parser, base, text, offset, part)
        if count_errors(tree.root_node) <= allowed \
                and not error_within(tree.root_node, start, start + len(encode(part))):
            return part
    logger.debug("syntax gate rejected the whole candidate")
    return ""


def longest_valid_head(text: str, snap: Snapshot, lang: LanguageSpec) -> str:
    """A block the gate rejects whole: its longest run of first lines that parses where it
    would go, "" when there is none. A run cut inside brackets it opened is shown with them
    closed (see `close_brackets`), except one that ends in an opener (that would show an
    empty call or literal the model did not write)."""
    lines = text.split("\n")
    indent = leading_ws(snap.line_prefix)
    for k in range(len(lines), 0, -1):
        part = "\n".join(lines[:k])
        if bracket_depth(part) > 0:
            if part.rstrip().endswith(("(", "[", "{")):
                continue
            part = close_brackets(part, indent)
        elif k == len(lines):
            continue  # the whole text, balanced: the gate rejected it already
        if part.strip() and syntax_gate(snap.text, snap.offset, part, lang) == part:
            return part
    return ""


def first_line_confidence(text: str, probs: Sequence[float], ends: Sequence[int]) -> float | None:
    """The geometric mean of the probabilities of the tokens that wrote the first line with
    code in `text` (the blank lines before it and its newline included): how sure the
    model was of what it would show first. None without probabilities."""
    if not probs or len(probs) != len(ends):
        return None
    body = len(text) - len(text.lstrip())
    newline = text.find("\n", body)
    end = len(text) if newline < 0 else newline
    logs = [math.log(max(p, 1e-12)) for p, start in zip(probs, (0, *ends)) if start <= end]
    return math.exp(sum(logs) / len(logs)) if logs else None
