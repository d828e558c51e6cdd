"""Accept signals: every inline suggestion carries the `distill.accepted` command, which
LSP 3.18 clients run after inserting the item; the server counts what was shown and what
was accepted, per profile and language, and reports it in `distill.status`. The counts
stay in this process: never sent anywhere, never written to disk."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

ACCEPTED_COMMAND = "distill.accepted"
REMEMBERED = 256
"""Shown suggestions remembered for their accept (the oldest are forgotten)."""


@dataclass
class _Counts:
    shown: int = 0
    accepted: int = 0
    accepted_chars: int = 0


@dataclass
class SuggestionStats:
    """What was shown and accepted in this session, per (profile, language)."""

    counts: dict[tuple[str, str], _Counts] = field(default_factory=dict)
    recent: OrderedDict[str, tuple[tuple[str, str], int]] = field(default_factory=OrderedDict)

    def shown(self, item_id: str, profile: str, language: str, text: str) -> None:
        key = (profile, language)
        self.counts.setdefault(key, _Counts()).shown += 1
        self.recent[item_id] = (key, len(text))
        while len(self.recent) > REMEMBERED:
            self.recent.popitem(last=False)

    def accepted(self, item_id: str) -> bool:
        """Count the accept of a shown item (once); False for an unknown or repeated id."""
        entry = self.recent.pop(item_id, None)
        if entry is None:
            return False
        key, chars = entry
        counts = self.counts.setdefault(key, _Counts())
        counts.accepted += 1
        counts.accepted_chars += chars
        return True

    def as_dict(self) -> list[dict[str, Any]]:
        return [{"profile": p, "language": lang, "shown": c.shown, "accepted": c.accepted,
                 "acceptedChars": c.accepted_chars, "acceptRate": round(c.accepted / c.shown, 3) if c.shown else None}
                for (p, lang), c in sorted(self.counts.items())]


def accept_command(item_id: str, confidence: float | None) -> types.Command:
    """The command an inline item carries: the editor runs it when the user accepts."""
    arguments: dict[str, Any] = {"id": item_id}
    if confidence is not None:
        arguments["confidence"] = round(confidence, 4)
    return types.Command(title="distill: suggestion accepted", command=ACCEPTED_COMMAND, arguments=[arguments])


def register(server: DistillLanguageServer) -> None:
    @server.command(ACCEPTED_COMMAND)
    def accepted(ls, *arguments):  # type: ignore[no-untyped-def]  # pygls resolves annotations at run time
        first = arguments[0] if arguments else None
        item_id = first.get("id") if isinstance(first, dict) else first
        if isinstance(item_id, str):
            cast("DistillLanguageServer", ls).suggestion_stats.accepted(item_id)
        return None
