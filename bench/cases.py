"""Seeded hole-cutting cases: where to put the cursor in a real file, and what was cut.

Three kinds of case, all on code lines (a line whose first non-blank character is not in a
comment or a string, as tree-sitter sees it):

- ``mid_line``: the cursor after at least `MIN_TYPED` characters of a line's code; the
  target is the rest of the line.
- ``line_start``: the cursor after a line's indentation (where an editor's auto-indent
  leaves it); the target is the line's code. Lines without any word character (``}``,
  ``])``) are not used.
- ``block``: the line before is a block opener (Python ``:``, JavaScript ``{``) and the
  cursor stands after the first body line's indentation; the target is the block body up
  to its dedent or closing brace, capped at `max_block_lines` lines and never ending
  inside a construct that continues on deeper-indented lines.

The document given to the system under test is the source with the target cut out; what
follows the target (the newline, the rest of the file) stays, as it would in an editor.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .sources import SourceFile

KINDS = ("mid_line", "line_start", "block")
MIN_TYPED = 2
MIN_TARGET = 3
MAX_LINE = 120
MAX_BLOCK_LINES = 4

_NON_CODE = {
    "python": frozenset({"comment", "string"}),
    "javascript": frozenset({"comment", "string", "template_string", "regex"}),
}
_OPENER = {"python": ":", "javascript": "{"}
_WORD = re.compile(r"\w")


class CaseError(Exception):
    """Not enough material to cut the cases asked for."""


@dataclass(frozen=True)
class Case:
    """One hole: the cursor at `start` of the original source, the target up to `end`."""

    id: str
    language: str
    kind: str
    path: str
    line: int
    """0-based line of the cursor."""
    start: int
    end: int
    source: str = field(repr=False, compare=False)

    @property
    def target(self) -> str:
        return self.source[self.start:self.end]

    @property
    def document(self) -> str:
        """The source with the hole cut; the cursor is at index `start`."""
        return self.source[:self.start] + self.source[self.end:]

    @property
    def prefix(self) -> str:
        return self.source[:self.start]

    @property
    def target_lines(self) -> int:
        return self.target.count("\n") + 1

    def describe(self) -> dict[str, Any]:
        """The case without its source, for the JSON report."""
        column = self.start - (self.source.rfind("\n", 0, self.start) + 1)
        return {"id": self.id, "language": self.language, "kind": self.kind, "path": self.path,
                "line": self.line, "column": column, "target": self.target}


@dataclass(frozen=True)
class Slot:
    """A place a case of one kind may be cut: the cursor anywhere in [lo, hi], target to `end`."""

    line: int
    lo: int
    hi: int
    end: int


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def code_lines(text: str, language: str) -> list[bool]:
    """Per line: True when it is non-blank and its first non-blank character is code."""
    lines = text.split("\n")
    first = [(row, len(line[:_indent(line)].encode())) for row, line in enumerate(lines)]
    mask = [line.strip() != "" for line in lines]
    for (r0, c0), (r1, c1) in _non_code_ranges(text, language):
        for row in range(r0, min(r1, len(lines) - 1) + 1):
            if mask[row] and (r0, c0) <= first[row] < (r1, c1):
                mask[row] = False
    return mask


def _non_code_ranges(text: str, language: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    kinds = _NON_CODE[language]
    stack = [_parser(language).parse(text.encode()).root_node]
    found = []
    while stack:
        node = stack.pop()
        if node.type in kinds:
            found.append((tuple(node.start_point), tuple(node.end_point)))
        else:
            stack.extend(node.children)
    return found


@lru_cache(maxsize=None)
def _parser(language: str) -> Any:
    from tree_sitter import Language, Parser

    if language == "python":
        import tree_sitter_python as grammar
    elif language == "javascript":
        import tree_sitter_javascript as grammar
    else:
        raise CaseError(f"no grammar for {language!r}")
    return Parser(Language(grammar.language()))


def slots(text: str, language: str, max_block_lines: int = MAX_BLOCK_LINES) -> dict[str, list[Slot]]:
    """Every place each kind of case can be cut in one file."""
    lines = text.split("\n")
    starts = _line_starts(lines)
    code = code_lines(text, language)
    found: dict[str, list[Slot]] = {kind: [] for kind in KINDS}
    for row, line in enumerate(lines):
        if row == 0 or not code[row] or len(line.rstrip()) > MAX_LINE:
            continue
        base, ind, length = starts[row], _indent(line), len(line.rstrip())
        end = base + len(line)
        if length - ind >= MIN_TYPED + MIN_TARGET:
            found["mid_line"].append(Slot(row, base + ind + MIN_TYPED, base + length - MIN_TARGET, end))
        if _WORD.search(line):
            found["line_start"].append(Slot(row, base + ind, base + ind, end))
        last = _block_end(lines, code, row, language, max_block_lines)
        if last is not None:
            found["block"].append(Slot(row, base + ind, base + ind, starts[last] + len(lines[last])))
    return found


def _line_starts(lines: Sequence[str]) -> list[int]:
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    return starts


def _block_end(lines: Sequence[str], code: Sequence[bool], row: int, language: str,
               max_lines: int) -> int | None:
    """Last line of the block body starting at `row`, when the line before opens a block."""
    opener = lines[row - 1]
    if not (code[row - 1] and opener.rstrip().endswith(_OPENER[language])):
        return None
    outer, inner = _indent(opener), _indent(lines[row])
    if inner <= outer:
        return None
    last = row
    for k in range(row + 1, len(lines)):
        if lines[k].strip() and _indent(lines[k]) <= outer:
            break
        if lines[k].strip():
            last = k
    last = min(last, row + max_lines - 1)
    while last > row and _continues(lines, last, inner):
        last -= 1
    if _continues(lines, last, inner):
        return None
    return last


def _continues(lines: Sequence[str], last: int, inner: int) -> bool:
    """The line after `last` belongs to a construct begun at or before `last`."""
    following = next((line for line in lines[last + 1:] if line.strip()), "")
    return _indent(following) > inner


def generate_cases(files: Mapping[str, Sequence[SourceFile]], count: int, seed: int,
                   max_block_lines: int = MAX_BLOCK_LINES) -> list[Case]:
    """`count` distinct cases, kinds and languages taking turns, files and places drawn from `seed`."""
    rng = random.Random(seed)
    languages = [lang for lang in files if files[lang]]
    if not languages:
        raise CaseError("no source files")
    table: dict[str, dict[str, list[Slot]]] = {}
    cases: list[Case] = []
    seen: set[tuple[str, str, int]] = set()
    misses = 0
    while len(cases) < count:
        kind = KINDS[len(cases) % len(KINDS)]
        language = languages[(len(cases) // len(KINDS)) % len(languages)]
        source = rng.choice(files[language])
        places = table.setdefault(str(source.path), {})
        if not places:
            places.update(slots(source.text, language, max_block_lines))
        case = _draw(rng, source, kind, places[kind], len(cases))
        if case is None or (case.path, kind, case.start) in seen:
            misses += 1
            if misses > 50 * count + 1000:
                raise CaseError(f"only {len(cases)} distinct cases could be cut, {count} asked for")
            continue
        seen.add((case.path, kind, case.start))
        cases.append(case)
    return cases


def _draw(rng: random.Random, source: SourceFile, kind: str, places: Sequence[Slot], index: int) -> Case | None:
    if not places:
        return None
    slot = rng.choice(places)
    start = rng.randint(slot.lo, slot.hi)
    return Case(id=f"{index:04d}-{source.language}-{kind}-{source.path.name}:{slot.line + 1}",
                language=source.language, kind=kind, path=str(source.path), line=slot.line,
                start=start, end=slot.end, source=source.text)
