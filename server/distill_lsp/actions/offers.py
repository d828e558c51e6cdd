"""Which actions to offer for a selection, decided without the model (it must be instant).

Explain and Document work on the selection or the enclosing definition (``targets``);
Fix is offered when the editor sent diagnostics for the range or the code there has a
syntax error, and falls back to the selected lines when no definition encloses them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import tree_sitter

from ..context.languages import LanguageSpec
from ..context.positions import encode
from .prompts import ActionKind
from .targets import Target, find_target, has_syntax_error

logger = logging.getLogger(__name__)

_TITLES = {ActionKind.EXPLAIN: "Explain this", ActionKind.FIX: "Fix this", ActionKind.DOCUMENT: "Document this"}


@dataclass(frozen=True)
class Offer:
    """One action to list: what it does and on which target."""

    kind: ActionKind
    target: Target

    @property
    def title(self) -> str:
        """The exact label editor configs select by ("Explain this", ...); the target's name
        goes into the action's data, not the title."""
        return _TITLES[self.kind]


def parse(text: str, language: LanguageSpec | None) -> tree_sitter.Tree | None:
    return language.parser().parse(encode(text)) if language is not None else None


def whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole lines (without the last line's newline)."""
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", max(end, start + 1) - 1 if end > start else start)
    return first, len(text) if last < 0 else last


def list_offers(text: str, start: int, end: int, language: LanguageSpec | None,
                has_diagnostics: bool, tree: tree_sitter.Tree | None = None) -> list[Offer]:
    """Explain / Fix / Document offers for the selection ``[start, end)``, in that order
    (`tree`: the parse of `text` where one is at hand)."""
    tree = tree if tree is not None else parse(text, language)
    target = _target(tree, text, start, end, language)
    offers: list[Offer] = []
    if target is not None:
        offers.append(Offer(ActionKind.EXPLAIN, target))
    fix = target if target is not None else Target(*whole_lines(text, start, end), "lines")
    broken = tree is not None and has_syntax_error(tree, fix.start, fix.end, text)
    if has_diagnostics or broken:
        offers.append(Offer(ActionKind.FIX, fix))
    if target is not None and language is not None:
        offers.append(Offer(ActionKind.DOCUMENT, target))
    return offers


def _target(tree: tree_sitter.Tree | None, text: str, start: int, end: int,
            language: LanguageSpec | None) -> Target | None:
    if tree is None or language is None:
        return Target(min(start, end), max(start, end), "selection") if start != end else None
    return find_target(tree, text, start, end, language.name)
