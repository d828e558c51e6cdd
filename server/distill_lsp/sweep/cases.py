"""What a sweep completes: a document and a cursor (from FILE:LINE:COL, a marked file or a
prompt), and optionally a HumanEval-style `check(candidate)` to run the answers against."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..completion.types import Snapshot
from ..context.languages import LanguageSpec, detect_language
from ..context.positions import encode
from ..headless import lsp_position, parse_location
from ..context.positions import offset_at

logger = logging.getLogger(__name__)

CURSOR_MARK = "<CURSOR>"
_ENTRY = re.compile(r"^entry_point\s*=\s*['\"](\w+)['\"]", re.M)
_TOP_DEF = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(", re.M)


class SweepError(Exception):
    """A case that cannot be built (bad location, unreadable file); the message is for the user."""


@dataclass(frozen=True)
class SweepCase:
    name: str
    text: str
    offset: int
    lang: LanguageSpec | None
    check: str | None = None
    """Source defining `check(candidate)` (HumanEval style), or None."""
    entry_point: str | None = None

    def snapshot(self) -> Snapshot:
        tree = self.lang.parser().parse(encode(self.text)) if self.lang is not None else None
        return Snapshot(uri=f"file:///sweep/{self.name}", version=1, text=self.text, offset=self.offset,
                        lang=self.lang, tree=tree, automatic=False, path=f"/sweep/{self.name}")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"cannot read {path}: {exc}") from exc


def _language(path: Path, language: str | None) -> LanguageSpec | None:
    return detect_language(language, str(path))


def entry_point_for(text: str, offset: int, check: str | None, given: str | None = None) -> str | None:
    """The function `check` is called with: given, `entry_point = "..."` in the check file,
    or the last top-level `def` before the cursor."""
    if given:
        return given
    if check and (m := _ENTRY.search(check)):
        return m.group(1)
    names = _TOP_DEF.findall(text[:offset])
    return names[-1] if names else None


def from_location(location: str, language: str | None = None, check_file: Path | None = None,
                  entry_point: str | None = None) -> SweepCase:
    """FILE:LINE:COL (1-based, as `distill-lsp complete` takes it)."""
    try:
        loc = parse_location(location)
    except Exception as exc:  # HeadlessError: same message for the user
        raise SweepError(str(exc)) from exc
    text = _read(loc.path)
    try:
        pos = lsp_position(text, loc.line, loc.column)
    except Exception as exc:
        raise SweepError(str(exc)) from exc
    offset = offset_at(text, pos.line, pos.character)
    return _with_check(SweepCase(loc.path.name, text, offset, _language(loc.path, language)), check_file, entry_point)


def from_marked_file(path: Path, check_file: Path | None = None, language: str | None = None) -> SweepCase:
    """A file with the cursor written as `<CURSOR>`."""
    raw = _read(path)
    if raw.count(CURSOR_MARK) != 1:
        raise SweepError(f"{path} must contain {CURSOR_MARK} exactly once")
    offset = raw.index(CURSOR_MARK)
    case = SweepCase(path.stem, raw.replace(CURSOR_MARK, ""), offset, _language(path, language))
    return _with_check(case, check_file, None)


def from_prompt(prompt: str, language: str | None = None) -> SweepCase:
    """Free text to continue, as a document of its own, the cursor on a new paragraph (a
    cursor right after one newline reads as "go on with the line" and is cut away)."""
    text = prompt.rstrip("\n") + "\n\n"
    return SweepCase("prompt", text, len(text), detect_language(language, None) if language else None)


def _with_check(case: SweepCase, check_file: Path | None, entry_point: str | None) -> SweepCase:
    if check_file is None:
        return case
    check = _read(check_file)
    if "def check(" not in check:
        raise SweepError(f"{check_file} has no `def check(candidate)`")
    name = entry_point_for(case.text, case.offset, check, entry_point)
    if name is None:
        raise SweepError("cannot tell which function to check: pass --entry-point")
    return SweepCase(case.name, case.text, case.offset, case.lang, check, name)
