"""Text coordinates: LSP (line, UTF-16 column) <-> str index <-> tree-sitter byte/point.

LSP lines end at \\n, \\r\\n or \\r; tree-sitter rows only end at \\n and its columns are UTF-8
bytes. Positions past the end of a line or of the document are clamped into it.
Strings are encoded with ``surrogatepass`` so a lone surrogate never raises.
"""

from __future__ import annotations

import re
from bisect import bisect_right

_EOL = re.compile(r"\r\n|\r|\n")
ENCODING = "utf-8"
ERRORS = "surrogatepass"


def encode(text: str) -> bytes:
    """The UTF-8 bytes tree-sitter parses."""
    return text.encode(ENCODING, ERRORS)


def decode(data: bytes) -> str:
    """The text of bytes made by `encode` (lone surrogates come back as they went in)."""
    return data.decode(ENCODING, ERRORS)


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def line_starts(text: str) -> list[int]:
    """str index of the first character of every LSP line."""
    return [0, *(m.end() for m in _EOL.finditer(text))]


def _line_content_end(text: str, starts: list[int], line: int) -> int:
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    while end > starts[line] and text[end - 1] in "\r\n":
        end -= 1
    return end


def offset_at(text: str, line: int, character: int, starts: list[int] | None = None) -> int:
    """str index of the LSP position (line, UTF-16 character), clamped into the document.

    A column that falls inside a surrogate pair resolves to just before the pair.
    """
    starts = starts if starts is not None else line_starts(text)
    if line < 0:
        return 0
    if line >= len(starts):
        return len(text)
    index, end = starts[line], _line_content_end(text, starts, line)
    remaining = max(0, character)
    while index < end and remaining > 0:
        remaining -= 2 if ord(text[index]) > 0xFFFF else 1
        if remaining < 0:
            break
        index += 1
    return index


def position_at(text: str, offset: int, starts: list[int] | None = None) -> tuple[int, int]:
    """LSP position (line, UTF-16 character) of a str index."""
    starts = starts if starts is not None else line_starts(text)
    offset = min(max(0, offset), len(text))
    line = bisect_right(starts, offset) - 1
    end = min(offset, _line_content_end(text, starts, line))
    return line, utf16_len(text[starts[line]:end])


def byte_offset(text: str, offset: int) -> int:
    """UTF-8 byte offset of a str index."""
    return len(encode(text[:offset]))


def ts_point(text: str, offset: int) -> tuple[int, int]:
    """tree-sitter point (row counted in \\n only, column in UTF-8 bytes) of a str index."""
    row = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    return row, len(encode(text[line_start:offset]))


def advance_point(point: tuple[int, int], inserted: str) -> tuple[int, int]:
    """The tree-sitter point reached after `inserted` is written at `point`."""
    newlines = inserted.count("\n")
    if not newlines:
        return point[0], point[1] + len(encode(inserted))
    return point[0] + newlines, len(encode(inserted[inserted.rfind("\n") + 1:]))


def str_offset_of_byte(text: str, byte: int) -> int:
    """str index of a UTF-8 byte offset (rounded down to a character boundary)."""
    data = encode(text)[:max(0, byte)]
    for cut in range(4):
        try:
            return len(data[:len(data) - cut].decode(ENCODING, ERRORS))
        except UnicodeDecodeError:
            continue
    return len(data.decode(ENCODING, "ignore"))


class TextOffsets:
    """str index <-> UTF-8 byte offset within one text, cheap when asked many times: an
    ASCII text maps one to one; another goes through the start of the \\n-line it is in.
    Offsets are clamped into the text; a byte inside a character rounds down to it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = encode(text)
        self._ascii = len(self.data) == len(text)
        self._lines: tuple[list[int], list[int]] | None = None

    def _starts(self) -> tuple[list[int], list[int]]:
        """Byte and str offsets of the start of every \\n-separated line."""
        if self._lines is None:
            byte_starts, str_starts = [0], [0]
            for line in self.text.split("\n")[:-1]:
                byte_starts.append(byte_starts[-1] + len(encode(line)) + 1)
                str_starts.append(str_starts[-1] + len(line) + 1)
            self._lines = byte_starts, str_starts
        return self._lines

    def to_byte(self, offset: int) -> int:
        offset = max(0, min(offset, len(self.text)))
        if self._ascii:
            return offset
        byte_start, start, _ = self._line(offset, in_bytes=False)
        return byte_start + len(encode(self.text[start:offset]))

    def to_str(self, byte: int) -> int:
        byte = max(0, min(byte, len(self.data)))
        if self._ascii:
            return byte
        byte_start, start, end = self._line(byte, in_bytes=True)
        return start + str_offset_of_byte(self.text[start:end], byte - byte_start)

    def _line(self, at: int, in_bytes: bool) -> tuple[int, int, int]:
        """(byte start, str start, str end) of the \\n-line holding offset `at`."""
        byte_starts, str_starts = self._starts()
        row = bisect_right(byte_starts if in_bytes else str_starts, at) - 1
        end = str_starts[row + 1] if row + 1 < len(str_starts) else len(self.text)
        return byte_starts[row], str_starts[row], end


def replace_range(text: str, start: tuple[int, int], end: tuple[int, int], new_text: str) -> str:
    """`text` with the LSP range start..end (line, UTF-16 column; clamped) replaced.

    Lines end at \\n, \\r\\n and \\r only, as LSP says (``str.splitlines`` also breaks at
    \\f, \\v, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029, which editors do not).
    """
    starts = line_starts(text)
    a = offset_at(text, *start, starts=starts)
    b = max(a, offset_at(text, *end, starts=starts))
    return text[:a] + new_text + text[b:]
