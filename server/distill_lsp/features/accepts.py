"""Accept signals: every inline suggestion carries the `distill.accepted` command, which
LSP 3.18 clients run after inserting the item; the server counts what was shown and what
was accepted, per profile and language, and reports it in `distill.status`.

Also taken: Copilot's notifications, which some clients send (`textDocument/didShowCompletion`
when the item is displayed, `textDocument/didPartiallyAcceptCompletion` with the accepted
length), and an accept seen without any of these: the next request finds the document
holding the suggestion at the cursor. The counts stay in this process: never sent
anywhere, never written to disk."""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

ACCEPTED_COMMAND = "distill.accepted"
REMEMBERED = 256
"""Shown suggestions remembered for their accept (the oldest are forgotten)."""


DID_SHOW = "textDocument/didShowCompletion"
DID_PARTIALLY_ACCEPT = "textDocument/didPartiallyAcceptCompletion"


COUNTS = ("shown", "displayed", "accepted", "acceptedChars", "partialAccepts", "partialChars")
"""What is counted per (profile, language), as `distill.status` names it."""


@dataclass(frozen=True)
class _Expected:
    """The document as it is once an item is accepted: its text's hash, length and the cursor."""

    item_id: str
    text_hash: int
    length: int
    offset: int


@dataclass
class SuggestionStats:
    """What was shown and accepted in this session, per (profile, language)."""

    counts: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    recent: OrderedDict[str, tuple[tuple[str, str], int]] = field(default_factory=OrderedDict)
    expected: OrderedDict[str, _Expected] = field(default_factory=OrderedDict)
    """Per document: the text an accept of its last shown item would leave."""

    def shown(self, item_id: str, profile: str, language: str, text: str) -> None:
        key = (profile, language)
        self.counts.setdefault(key, Counter())["shown"] += 1
        self.recent[item_id] = (key, len(text))
        while len(self.recent) > REMEMBERED:
            self.recent.popitem(last=False)

    def expect(self, uri: str, item_id: str, text_after: str, offset_after: int) -> None:
        """Item `item_id` of `uri`, once accepted, leaves `text_after` with the cursor at `offset_after`."""
        self.expected.pop(uri, None)
        self.expected[uri] = _Expected(item_id, hash(text_after), len(text_after), offset_after)
        while len(self.expected) > REMEMBERED:
            self.expected.popitem(last=False)

    def saw_document(self, uri: str, text: str, offset: int) -> bool:
        """A request on `uri`: when its document is what accepting the last item leaves,
        that is an accept (counted once, whether or not the client ran the command)."""
        expected = self.expected.pop(uri, None)
        if expected is None or (expected.length, expected.offset) != (len(text), offset) \
                or expected.text_hash != hash(text):
            return False
        self.accepted(expected.item_id)
        return True

    def displayed(self, item_id: str) -> None:
        entry = self.recent.get(item_id)
        if entry is not None:
            self.counts.setdefault(entry[0], Counter())["displayed"] += 1

    def partially_accepted(self, item_id: str, length: int) -> None:
        entry = self.recent.get(item_id)
        if entry is not None:
            counts = self.counts.setdefault(entry[0], Counter())
            counts["partialAccepts"] += 1
            counts["partialChars"] += max(0, min(length, entry[1]))

    def accepted(self, item_id: str) -> bool:
        """Count the accept of a shown item (once); False for an unknown or repeated id."""
        entry = self.recent.pop(item_id, None)
        if entry is None:
            return False
        key, chars = entry
        counts = self.counts.setdefault(key, Counter())
        counts["accepted"] += 1
        counts["acceptedChars"] += chars
        return True

    def as_dict(self) -> list[dict[str, Any]]:
        return [{"profile": p, "language": lang, **{name: c[name] for name in COUNTS},
                 "acceptRate": round(c["accepted"] / c["shown"], 3) if c["shown"] else None}
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

    @server.feature(DID_SHOW)
    def did_show(ls, params) -> None:  # type: ignore[no-untyped-def]
        item_id = _item_id(params)
        if item_id is not None:
            cast("DistillLanguageServer", ls).suggestion_stats.displayed(item_id)

    @server.feature(DID_PARTIALLY_ACCEPT)
    def did_partially_accept(ls, params) -> None:  # type: ignore[no-untyped-def]
        item_id, length = _item_id(params), _field(params, "acceptedLength")
        if item_id is not None and isinstance(length, int) and not isinstance(length, bool):
            cast("DistillLanguageServer", ls).suggestion_stats.partially_accepted(item_id, length)


def _field(value: Any, name: str) -> Any:
    """`value.name` or `value[name]`: custom notifications arrive as plain objects or mappings."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _item_id(params: Any) -> str | None:
    """Our item id from a Copilot-shaped notification: ``{item: {command: {arguments: [{id}]}}}``."""
    arguments = _field(_field(_field(params, "item"), "command"), "arguments")
    first = arguments[0] if isinstance(arguments, (list, tuple)) and arguments else None
    item_id = _field(first, "id")
    return item_id if isinstance(item_id, str) else None
