"""Seeded hole-cutting cases: where to put the cursor in a real file, and what was cut.

Three kinds of case, all on code lines (a line whose first non-blank character is not in a
comment or a string, as tree-sitter sees it):

- ``mid_line``: the cursor after at least `MIN_TYPED` characters of a line's code; the
  target is the rest of the line.
- ``line_start``: the cursor after a line's indentation (where an editor's auto-indent
  leaves it); the target is the line's code. Lines without any word character (``}``,
  ``])``) are not used.
- ``block``: the line before is a block opener (the language's: ``:`` for Python, ``{`` for
  the C family, Go, Rust, JavaScript and TypeScript) and the cursor stands after the first
  body line's indentation; the target is the block body up to its dedent or closing brace,
  capped at `max_block_lines` lines and never ending inside a construct that goes on below
  (deeper-indented lines, a closing bracket at the body's indentation, the rest of a string).

No target ends inside a string or comment that goes on to the next line.

The document given to the system under test is the source with the target cut out; what
follows the target (the newline, the rest of the file) stays, as it would in an editor.

The files split into a tuning half and a held-out half by a stable hash of each file's path
relative to its source's root, so the halves share no file; each half's cases are drawn
from its own files with a seed of their own.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from distill_lsp.context.languages import LanguageSpec, detect_language

from .sources import SourceFile

KINDS = ("mid_line", "line_start", "block")
MIN_TYPED = 2
MIN_TARGET = 3
MAX_LINE = 120
MAX_BLOCK_LINES = 4

HALVES = ("tuning", "heldout")
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
    half: str = ""
    """`tuning` or `heldout`; empty for a case not cut from a split set."""

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
        return {"id": self.id, "half": self.half, "language": self.language, "kind": self.kind,
                "path": self.path, "line": self.line, "column": column, "target": self.target}


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
    return line_kinds(text, language)[0]


def line_kinds(text: str, language: str) -> tuple[list[bool], list[bool]]:
    """Per line: whether it is code (as `code_lines`), and whether it starts inside a
    comment or string begun on an earlier line (the rest of a multi-line string)."""
    lines = text.split("\n")
    first = [(row, len(line[:_indent(line)].encode())) for row, line in enumerate(lines)]
    code = [line.strip() != "" for line in lines]
    continued = [False] * len(lines)
    for (r0, c0), (r1, c1) in _non_code_ranges(text, language):
        for row in range(r0, min(r1, len(lines) - 1) + 1):
            if (r0, c0) <= first[row] < (r1, c1):
                code[row] = False
                continued[row] = row > r0
    return code, continued


def _non_code_ranges(text: str, language: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spec = _spec(language)
    kinds = spec.comments | spec.strings
    stack = [_parser(language).parse(text.encode()).root_node]
    found = []
    while stack:
        node = stack.pop()
        if node.type in kinds:
            found.append((tuple(node.start_point), tuple(node.end_point)))
        else:
            stack.extend(node.children)
    return found


def _spec(language: str) -> LanguageSpec:
    spec = detect_language(language, None)
    if spec is None:
        raise CaseError(f"no grammar for {language!r}")
    return spec


@lru_cache(maxsize=None)
def _parser(language: str) -> Any:
    return _spec(language).parser()


def slots(text: str, language: str, max_block_lines: int = MAX_BLOCK_LINES) -> dict[str, list[Slot]]:
    """Every place each kind of case can be cut in one file."""
    lines = text.split("\n")
    starts = _line_starts(lines)
    code, continued = line_kinds(text, language)
    found: dict[str, list[Slot]] = {kind: [] for kind in KINDS}
    for row, line in enumerate(lines):
        ends_inside = row + 1 < len(lines) and continued[row + 1]  # a string or comment goes on below
        if row == 0 or not code[row] or ends_inside or len(line.rstrip()) > MAX_LINE:
            continue
        base, ind, length = starts[row], _indent(line), len(line.rstrip())
        end = base + len(line)
        if length - ind >= MIN_TYPED + MIN_TARGET:
            found["mid_line"].append(Slot(row, base + ind + MIN_TYPED, base + length - MIN_TARGET, end))
        if _WORD.search(line):
            found["line_start"].append(Slot(row, base + ind, base + ind, end))
        last = _block_end(lines, code, continued, row, language, max_block_lines)
        if last is not None:
            found["block"].append(Slot(row, base + ind, base + ind, starts[last] + len(lines[last])))
    return found


def _line_starts(lines: Sequence[str]) -> list[int]:
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    return starts


def _block_end(lines: Sequence[str], code: Sequence[bool], continued: Sequence[bool], row: int, language: str,
               max_lines: int) -> int | None:
    """Last line of the block body starting at `row`, when the line before opens a block.
    The body ends before the first code line at or left of the opener's indentation (the
    rest of a multi-line string, or a comment, may stand further left inside it)."""
    opener = lines[row - 1]
    if not (code[row - 1] and opener.rstrip().endswith(_spec(language).block_opener)):
        return None
    outer, inner = _indent(opener), _indent(lines[row])
    if inner <= outer:
        return None
    last = row
    for k in range(row + 1, len(lines)):
        if not lines[k].strip():
            continue
        if code[k] and _indent(lines[k]) <= outer:
            break
        if continued[k] or _indent(lines[k]) > outer:
            last = k
    last = min(last, row + max_lines - 1)
    while last > row and (not lines[last].strip() or _continues(lines, continued, last, inner)):
        last -= 1
    if _continues(lines, continued, last, inner):
        return None
    return last


def _continues(lines: Sequence[str], continued: Sequence[bool], last: int, inner: int) -> bool:
    """The line after `last` belongs to a construct begun at or before `last`: it is indented
    deeper than the body, it is the rest of a string or comment, or it closes a bracket at
    the body's indentation."""
    following = next((k for k in range(last + 1, len(lines)) if lines[k].strip()), None)
    if following is None:
        return False
    indent = _indent(lines[following])
    closes = indent == inner and lines[following].lstrip()[:1] in ("}", ")", "]")
    return indent > inner or continued[following] or closes


def half_of(source: SourceFile) -> str:
    """The half a file belongs to, from a stable hash of its path relative to its source's root."""
    return HALVES[hashlib.sha256(source.relative.encode()).digest()[0] & 1]


def cases_by_half(files: Mapping[str, Sequence[SourceFile]], count: int, seed: int,
                  halves: Sequence[str] = HALVES, max_block_lines: int = MAX_BLOCK_LINES) -> list[Case]:
    """`count` cases over `halves`, shared out evenly (the first half gets any odd one); each
    half's are those `generate_cases` cuts from that half's files alone."""
    cases: list[Case] = []
    for index, half in enumerate(halves):
        share = count // len(halves) + (index < count % len(halves))
        own = {lang: [f for f in found if half_of(f) == half] for lang, found in files.items()}
        cases += generate_cases(own, share, seed, max_block_lines, half)
    return cases


def generate_cases(files: Mapping[str, Sequence[SourceFile]], count: int, seed: int,
                   max_block_lines: int = MAX_BLOCK_LINES, half: str = "") -> list[Case]:
    """`count` distinct cases, files and places drawn from `seed` (and `half`). Languages take
    turns, and each language goes through the kinds in turn, so every `3 * languages` cases
    hold each (language, kind) pair once."""
    rng = random.Random(f"{seed}:{half}" if half else seed)
    languages = [lang for lang in files if files[lang]]
    if not languages:
        raise CaseError(f"no source files{f' in the {half} half' if half else ''}")
    table: dict[str, dict[str, list[Slot]]] = {}
    cases: list[Case] = []
    seen: set[tuple[str, str, int]] = set()
    misses = 0
    while len(cases) < count:
        turn, lang_index = divmod(len(cases), len(languages))
        language, kind = languages[lang_index], KINDS[(lang_index + turn) % len(KINDS)]
        source = rng.choice(files[language])
        places = table.setdefault(str(source.path), {})
        if not places:
            places.update(slots(source.text, language, max_block_lines))
        case = _draw(rng, source, kind, places[kind], len(cases), half)
        if case is None or (case.path, kind, case.start) in seen:
            misses += 1
            if misses > 50 * count + 1000:
                raise CaseError(f"only {len(cases)} distinct cases could be cut, {count} asked for")
            continue
        seen.add((case.path, kind, case.start))
        cases.append(case)
    return cases


def _draw(rng: random.Random, source: SourceFile, kind: str, places: Sequence[Slot], index: int,
          half: str) -> Case | None:
    if not places:
        return None
    slot = rng.choice(places)
    start = rng.randint(slot.lo, slot.hi)
    tag = half[:1]
    return Case(id=f"{tag}{index:04d}-{source.language}-{kind}-{source.path.name}:{slot.line + 1}",
                language=source.language, kind=kind, path=str(source.path), line=slot.line,
                start=start, end=slot.end, source=source.text, half=half)
