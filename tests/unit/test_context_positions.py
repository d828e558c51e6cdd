"""UTF-16 LSP positions <-> str indexes <-> tree-sitter points."""

from __future__ import annotations

import pytest
from distill_lsp.context.positions import (
    advance_point,
    byte_offset,
    line_starts,
    offset_at,
    position_at,
    str_offset_of_byte,
    ts_point,
    utf16_len,
)
from hypothesis import given, settings
from hypothesis import strategies as st

DOC = "a😀b\r\n中文x\rlast\n"


@pytest.mark.parametrize(
    ("line", "character", "offset"),
    [
        (0, 0, 0),
        (0, 1, 1),
        (0, 2, 1),  # inside the surrogate pair: stays before the emoji
        (0, 3, 2),
        (0, 4, 3),
        (0, 99, 3),  # clamped to the end of the line, before \r\n
        (1, 0, 5),
        (1, 2, 7),
        (1, 3, 8),
        (2, 0, 9),
        (2, 4, 13),
        (3, 0, 14),
        (9, 0, len(DOC)),
        (-1, 5, 0),
    ],
)
def test_offset_at(line: int, character: int, offset: int) -> None:
    assert offset_at(DOC, line, character) == offset


@pytest.mark.parametrize(
    ("offset", "position"),
    [(0, (0, 0)), (2, (0, 3)), (3, (0, 4)), (4, (0, 4)), (5, (1, 0)), (8, (1, 3)), (9, (2, 0)),
     (14, (3, 0)), (100, (3, 0))],
)
def test_position_at(offset: int, position: tuple[int, int]) -> None:
    assert position_at(DOC, offset) == position


def test_line_starts_follow_lsp() -> None:
    assert line_starts(DOC) == [0, 5, 9, 14]


def test_utf16_and_bytes() -> None:
    assert utf16_len("a😀中") == 4
    assert byte_offset("a😀中x", 3) == 1 + 4 + 3
    assert str_offset_of_byte("a😀中x", 8) == 3
    assert str_offset_of_byte("a😀中x", 3) == 1  # inside the emoji: rounded down
    assert str_offset_of_byte("a😀中x", 6) == 2


def test_tree_sitter_points_count_only_newlines() -> None:
    text = "ab\r\ncd\ref😀g"
    assert ts_point(text, text.index("g")) == (1, len("cd\ref😀".encode()))
    assert advance_point((2, 3), "x😀\ny中") == (3, 4)
    assert advance_point((2, 3), "中") == (2, 6)


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \t\n\r😀中é")), max_size=30), st.data())
def test_round_trip(text: str, data: st.DataObject) -> None:
    offset = data.draw(st.integers(0, len(text)))
    line, character = position_at(text, offset)
    back = offset_at(text, line, character)
    # Offsets inside a \r\n pair resolve to the end of the line's content.
    assert back == offset or (text[back:offset] == "\r" and text[offset:offset + 1] == "\n")
