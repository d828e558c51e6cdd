"""The text right around the cursor within a token budget: the nearest lines before it
(`fit_prefix`, its start anchored so that consecutive prompts share it: `anchor_prefix`)
and after it (`fit_suffix`). Cuts fall at line boundaries except for a single over-long
cursor line."""

from __future__ import annotations

import re
from collections.abc import Callable

CountTokens = Callable[[str], int]
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
ANCHOR_LINES = 16
"""The prefix window starts on a line number divisible by this (see `anchor_prefix`)."""


def split_lines(text: str) -> list[str]:
    """Lines with their endings (\\n, \\r\\n or \\r); joining them gives `text` back."""
    return _LINE.findall(text)


def _trim_chars(text: str, limit: int, count: CountTokens, keep_end: bool) -> str:
    """The longest end (keep_end) or start of `text` within `limit` tokens."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(text[len(text) - mid:] if keep_end else text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[len(text) - lo:] if keep_end else text[:lo]


def fit_prefix(before: str, limit: int, count: CountTokens) -> str:
    """The nearest lines of `before` within `limit` tokens (the cursor line trimmed at its
    start if alone it is too long)."""
    if limit <= 0:
        return ""
    lines = split_lines(before)
    current = "" if not lines or lines[-1].endswith(("\n", "\r")) else lines.pop()
    used = count(current) if current else 0
    if used > limit:
        return _trim_chars(current, limit, count, keep_end=True)
    kept = [current]
    while lines:
        cost = count(lines[-1])
        if used + cost > limit:
            break
        kept.append(lines.pop())
        used += cost
    return "".join(reversed(kept))


def anchor_prefix(before: str, prefix: str, every: int = ANCHOR_LINES, keep_line: int | None = None) -> str:
    """`prefix` (a tail of `before`) starting at a line whose number is a multiple of
    `every` (smaller for short windows: at most an eighth of their lines is dropped),
    never dropping the cursor's line.

    The nearest lines that fit the budget start one line further down every few
    keystrokes; anchored, the window's start moves once in `every` such shifts, so
    consecutive prompts keep a common start (the engine reuses its key/value cache).
    With `keep_line` (the last window's first line) inside the window that fits, the
    window starts there: it moves only when the budget forces it."""
    if len(prefix) >= len(before) or every <= 1:
        return prefix
    lines = split_lines(prefix)
    first_line = before.count("\n", 0, len(before) - len(prefix))
    if keep_line is not None and first_line <= keep_line < first_line + len(lines):
        return "".join(lines[keep_line - first_line:])
    every = min(every, max(1, len(lines) // 8))  # never more than an eighth of the window
    drop = -first_line % every
    if drop == 0 or drop >= len(lines):
        return prefix
    return "".join(lines[drop:])


def fit_suffix(after: str, limit: int, count: CountTokens) -> str:
    """The nearest lines of `after` within `limit` tokens."""
    if limit <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for line in split_lines(after):
        cost = count(line)
        if used + cost > limit:
            if not kept:
                return _trim_chars(line, limit, count, keep_end=False)
            break
        kept.append(line)
        used += cost
    return "".join(kept)
