"""From raw model output to what is shown at the cursor: a chain of small named stages
(the syntax gate that follows them is `gate.py`).
"""

from __future__ import annotations

import logging
import re

from ..engine.types import StopReason
from .rules import Mode, indent_width, leading_ws

logger = logging.getLogger(__name__)

MAX_LINES = 24
MAX_GATE_LINES = 64
NEIGHBOUR_LINES = 3
_PAIRS = {")": "(", "]": "[", "}": "{"}
_OPEN = set(_PAIRS.values())
_WORD = re.compile(r"\w")


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def cut_to_line(text: str) -> str:
    """SINGLE_LINE: keep the rest of the cursor's line only."""
    return text.split("\n", 1)[0]


def match_indent_style(text: str, indent_unit: str) -> str:
    """Re-indent lines after the first with the document's style (tabs vs spaces)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    model_unit = _space_unit(lines[1:])
    out = [lines[0]]
    for line in lines[1:]:
        ws = leading_ws(line)
        if indent_unit == "\t" and " " in ws:
            levels, rest = divmod(indent_width(ws, len(model_unit)), len(model_unit))
            ws = "\t" * levels + " " * rest
        elif indent_unit != "\t" and "\t" in ws:
            ws = ws.replace("\t", indent_unit)
        out.append(ws + line.lstrip(" \t"))
    return "\n".join(out)


def _space_unit(lines: list[str]) -> str:
    widths = sorted({len(leading_ws(ln)) for ln in lines if ln.strip() and not ln.startswith("\t")} - {0})
    return " " * (widths[0] if widths and widths[0] in (2, 3, 4, 8) else 4)


def bracket_depth(text: str) -> int:
    """Brackets `text` opens minus those it closes (outside one-line string literals);
    negative when it closes brackets opened before it."""
    depth = 0
    for _, ch in _code_chars(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _PAIRS:
            depth -= 1
    return depth


def line_cap_reached(lines: list[str], max_lines: int) -> bool:
    """`lines` fill the cap and end outside any bracket they opened (a statement is not cut
    in the middle by the cap: the syntax gate would then have to reject all of it)."""
    return len(lines) >= max_lines and bracket_depth("\n".join(lines)) <= 0


def cut_at_block_end(text: str, mode: Mode, max_lines: int = MAX_LINES) -> str:
    """MULTI_LINE: stop before the first line that dedents out of the block; at top level,
    before a new unindented paragraph; and after `max_lines`, or, when the statement there
    is still inside brackets, after the line that closes them (at most `MAX_GATE_LINES`)."""
    lines = text.split("\n")
    kept = [lines[0]]
    for line in lines[1:MAX_GATE_LINES]:
        if line_cap_reached(kept, max_lines):
            break
        if line.strip():
            width = indent_width(leading_ws(line))
            if width < mode.exit_width:
                break
            if mode.exit_width == 0 and width == 0 and any(ln.strip() for ln in kept) and not kept[-1].strip():
                break
        kept.append(line)
    if len(kept) > max_lines and bracket_depth("\n".join(kept)) > 0:
        kept = kept[:max_lines]  # waited for the brackets to close, in vain: back to the cap
    return "\n".join(kept)


def _left_open(text: str) -> list[tuple[str, int]]:
    """(opener, line index) of the brackets `text` opens and leaves open, innermost last."""
    stack: list[tuple[str, int]] = []
    line, seen = 0, 0
    for i, ch in _code_chars(text):
        line += text.count("\n", seen, i)
        seen = i
        if ch in _OPEN:
            stack.append((ch, line))
        elif ch in _PAIRS and stack and stack[-1][0] == _PAIRS[ch]:
            stack.pop()
    return stack


def close_brackets(text: str, first_indent: str) -> str:
    """`text` with the brackets it opened and left open closed: for each line that opened
    some, innermost first, a line with their closers at that line's indentation
    (`first_indent`, the cursor line's, for the first line)."""
    closing = {v: k for k, v in _PAIRS.items()}
    stack = _left_open(text)
    lines = text.split("\n")
    out = text.rstrip()
    while stack:
        row = stack[-1][1]
        closers = ""
        while stack and stack[-1][1] == row:
            closers += closing[stack.pop()[0]]
        out += "\n" + (first_indent if row == 0 else leading_ws(lines[row])) + closers
    return out


def _unmatched_closers(text: str, claimed: list[str] | None = None) -> list[int]:
    """Positions of closing brackets in `text` not opened within it (nor by `claimed`,
    a stack of openers it may close), skipping quoted strings on one line."""
    stack: list[str] = []
    outer = list(claimed or [])
    unmatched: list[int] = []
    for i, ch in _code_chars(text):
        if ch in _OPEN:
            stack.append(ch)
        elif ch in _PAIRS:
            if stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
            elif not stack and outer and outer[-1] == _PAIRS[ch]:
                outer.pop()
            else:
                unmatched.append(i)
    return unmatched


def _code_chars(text: str):
    """(index, char) of `text` outside one-line string literals."""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'`":
            end = text.find(ch, i + 1)
            newline = text.find("\n", i + 1)
            if end > 0 and (newline < 0 or end < newline or ch == "`"):
                i = end + 1
                continue
        yield i, ch
        i += 1


def open_brackets(prefix: str, lines: int = 40) -> list[str]:
    """Openers left unclosed by the last `lines` lines of `prefix`, innermost last."""
    stack: list[str] = []
    for line in prefix.split("\n")[-lines:]:
        for _, ch in _code_chars(line):
            if ch in _OPEN:
                stack.append(ch)
            elif ch in _PAIRS and stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
    return stack


def _claimed_by_line_suffix(prefix: str, line_suffix: str) -> list[str]:
    """Prefix openers still free after the closers right of the cursor took theirs."""
    stack = open_brackets(prefix)
    for _, ch in _code_chars(line_suffix):
        if ch in _PAIRS and stack and stack[-1] == _PAIRS[ch]:
            stack.pop()
    return stack


def strip_line_suffix_overlap(text: str, line_suffix: str) -> str:
    """Drop the end of a one-line completion that repeats the start of the text right of
    the cursor; a closing bracket counts as repeated only if the completion did not open it."""
    target = line_suffix.strip()
    body = text.rstrip()
    unmatched = set(_unmatched_closers(body))
    for k in range(min(len(target), len(body)), 0, -1):
        if not body.endswith(target[:k]):
            continue
        start = len(body) - k
        closers = [i for i in range(start, len(body)) if body[i] in _PAIRS]
        if all(i in unmatched for i in closers):
            return body[:start]
    return text


def _significant(line: str) -> bool:
    return bool(_WORD.search(line))


def _line_key(line: str) -> str:
    """What makes two lines the same line: their text; for lines without a word (`}`, `])`)
    their indentation too, since a closer at another depth closes something else."""
    return line.strip() if _significant(line) else line.rstrip()


def strip_suffix_lines(text: str, suffix: str) -> str:
    """Cut a multi-line completion where it starts repeating the lines after the cursor."""
    lines = text.split("\n")
    after = [_line_key(ln) for ln in suffix.split("\n")[1:] if ln.strip()]
    rest = suffix.split("\n", 1)[0].strip()
    after = [rest, *after] if rest else after
    if not after:
        return text
    for i in range(1, len(lines)):
        tail = [_line_key(ln) for ln in lines[i:] if ln.strip()]
        if tail and tail == after[: len(tail)]:
            return "\n".join(lines[:i])
        here = lines[i].strip()
        if here and here == after[0] and _significant(here) and len(here) >= 6:
            return "\n".join(lines[:i])
    return text


def balance_brackets(text: str, prefix: str, line_suffix: str = "") -> str:
    """Cut at the first closing bracket that matches nothing the completion or the prefix
    opened (openers the text right of the cursor already closes don't count)."""
    unmatched = _unmatched_closers(text, _claimed_by_line_suffix(prefix, line_suffix))
    return text[: unmatched[0]].rstrip() if unmatched else text


def drop_repeated_lines(text: str, prefix: str, suffix: str) -> str:
    """"" when every meaningful line only repeats a line next to the cursor: one of the
    `NEIGHBOUR_LINES` either side, or, when code is typed before the cursor on its line,
    the line right above or below (a line like one a few lines away, in another branch,
    is often what is meant there)."""
    before = prefix.split("\n")
    line_prefix = before[-1]
    reach = 1 if line_prefix.strip() else NEIGHBOUR_LINES
    neighbours = [ln.strip() for ln in before[:-1] if ln.strip()][-reach:]
    neighbours += [ln.strip() for ln in suffix.split("\n")[1:] if ln.strip()][:reach]
    lines = text.split("\n")
    first = [(line_prefix + lines[0]).strip()] if lines[0].strip() else []
    produced = [*first, *(ln.strip() for ln in lines[1:])]
    meaningful = [ln for ln in produced if _significant(ln)]
    if meaningful and all(ln in neighbours for ln in meaningful):
        return ""
    return text


def trim_trailing_whitespace(text: str) -> str:
    lines = [ln.rstrip() for ln in text.split("\n")]
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def postprocess(raw: str, *, prefix: str, suffix: str, mode: Mode, indent_unit: str,
                max_lines: int = MAX_LINES) -> str:
    """What to show at the cursor, or "" when nothing useful is left."""
    text = normalize_newlines(raw)
    suffix = normalize_newlines(suffix)
    line_suffix = suffix.split("\n", 1)[0]
    if mode.single_line:
        text = strip_line_suffix_overlap(cut_to_line(text), line_suffix)
    else:
        text = cut_at_block_end(match_indent_style(text, indent_unit), mode, max_lines)
        text = strip_suffix_lines(text, suffix)
    text = balance_brackets(text, normalize_newlines(prefix), line_suffix)
    text = drop_repeated_lines(text, normalize_newlines(prefix), suffix)
    text = trim_trailing_whitespace(text)
    return text if text.strip() else ""


def drop_partial_line(text: str, reason: StopReason, mode: Mode) -> str:
    """A block cut by the token limit (or an unsure token) ends in a half line: drop it."""
    if reason in (StopReason.LENGTH, StopReason.UNSURE) and not mode.single_line and "\n" in text:
        return text[: text.rfind("\n")]
    return text
