"""Position conversion at the protocol boundary: LSP (line, code units) <-> str index.

Lines end at \\n, \\r\\n or \\r, as the LSP specification says. Code units are UTF-16 by
default (the LSP default), or UTF-8 / UTF-32 when the client negotiated them. Positions
past the end of a line or of the document are clamped; negative ones to 0.
"""

from __future__ import annotations

import re
from bisect import bisect_right

_EOL = re.compile(r"\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    """Index of the first character of every line."""
    return [0, *(m.end() for m in _EOL.finditer(text))]


def _line_bounds(text: str, starts: list[int], line: int) -> tuple[int, int]:
    start = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    while end > start and text[end - 1] in "\r\n":
        end -= 1
    return start, end


def _units(ch: str, encoding: str) -> int:
    cp = ord(ch)
    if encoding == "utf-8":
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    if encoding == "utf-32":
        return 1
    return 2 if cp >= 0x10000 else 1


def offset_at(text: str, line: int, character: int, encoding: str = "utf-16",
              starts: list[int] | None = None) -> int:
    """str index of (line, character); clamped into the document."""
    starts = starts if starts is not None else line_starts(text)
    if line < 0:
        return 0
    if line >= len(starts):
        return len(text)
    start, end = _line_bounds(text, starts, line)
    remaining = max(0, character)
    index = start
    while index < end and remaining > 0:
        remaining -= _units(text[index], encoding)
        if remaining < 0:  # inside a surrogate pair / multi-byte char: stay before it
            break
        index += 1
    return index


def position_at(text: str, offset: int, encoding: str = "utf-16",
                starts: list[int] | None = None) -> tuple[int, int]:
    """(line, character in code units) of a str index."""
    starts = starts if starts is not None else line_starts(text)
    offset = min(max(0, offset), len(text))
    line = bisect_right(starts, offset) - 1
    start, end = _line_bounds(text, starts, line)
    column = sum(_units(ch, encoding) for ch in text[start:min(offset, end)])
    return line, column
