"""Speculation: once an inline suggestion is shown and the engine has nothing else to do,
the next suggestion is computed as if the user had accepted this one, so the request
that follows an accept is answered without generating.

The engine keeps the prompt and the suggestion in its key/value cache, so continuing
from there costs little more than decoding. A speculation is remembered with the
document it expects (the text with the suggestion inserted, the cursor after it) and is
used only by a request on exactly that document, with the same settings. At most one
per document and `MAX_DOCUMENTS` in all; the engine runs it at the lowest priority and
stops it for any real request (`Engine.submit_idle`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..context.trees import IncrementalParser
from .types import CompletionConfig, Snapshot, Suggestion

MAX_DOCUMENTS = 8


def after_accept(snap: Snapshot, text: str) -> tuple[str, int]:
    """The document's text once `text` is accepted at the cursor, and the cursor after it."""
    return snap.text[:snap.offset] + text + snap.text[snap.offset:], snap.offset + len(text)


def accepted(snap: Snapshot, text: str, parser: IncrementalParser) -> Snapshot:
    """`snap` after the user accepts `text` at its cursor: inserted there, the cursor after it.
    Its context choices are not remembered for the document (that is not its text yet)."""
    tree = parser.reparse(snap.lang, snap.tree, snap.text, snap.offset, snap.offset, text)
    after, cursor = after_accept(snap, text)
    return dataclasses.replace(snap, version=None, text=after, offset=cursor, tree=tree, automatic=True,
                               remember=None)


@dataclass
class Speculation:
    """The next suggestion for the document `text` with the cursor at `offset`."""

    uri: str
    text: str
    offset: int
    config: CompletionConfig
    item_id: str
    """The shown item whose accept this expects (an accept seen without its command)."""
    future: Future = field(default_factory=Future)
    started: float = field(default_factory=time.perf_counter)

    def matches(self, uri: str, text: str, offset: int, config: CompletionConfig) -> bool:
        return (uri, offset, config) == (self.uri, self.offset, self.config) and text == self.text


class Speculations:
    """The speculations of one session: the newest per document."""

    def __init__(self) -> None:
        self._by_uri: OrderedDict[str, Speculation] = OrderedDict()
        self._lock = threading.Lock()
        self.parser = IncrementalParser()
        """Parses the expected documents, on the engine worker only (a parser is not thread-safe)."""
        self.stats: Counter[str] = Counter()
        """started; used (requests answered from one) and their usedTokens; wasted (finished or
        stopped unused) and their wastedTokens and wastedSeconds of engine time."""

    def expect(self, snap: Snapshot, text: str, config: CompletionConfig, item_id: str) -> Speculation:
        """Remember a speculation for `snap` once `text` is accepted (replacing the document's
        previous one); the caller runs it and resolves its future with a `Suggestion`."""
        speculation = Speculation(snap.uri, *after_accept(snap, text), config, item_id)
        with self._lock:
            old = self._by_uri.pop(snap.uri, None)
            self._by_uri[snap.uri] = speculation
            self.stats["started"] += 1
            dropped = [old] if old is not None else []
            while len(self._by_uri) > MAX_DOCUMENTS:
                dropped.append(self._by_uri.popitem(last=False)[1])
        for gone in dropped:
            self._wasted(gone)
        return speculation

    def take(self, uri: str, text: str, offset: int, config: CompletionConfig) -> Speculation | None:
        """The document's speculation if it expected exactly this request (it is used up);
        a speculation that expected something else is forgotten."""
        with self._lock:
            speculation = self._by_uri.pop(uri, None)
        if speculation is None:
            return None
        if not speculation.matches(uri, text, offset, config):
            self._wasted(speculation)
            return None
        return speculation

    def figures(self) -> dict[str, Any]:
        """What `distill.status` reports."""
        with self._lock:
            return {name: round(self.stats[name], 3) for name in
                    ("started", "used", "wasted", "usedTokens", "wastedTokens", "wastedSeconds")}

    def ready(self) -> int:
        """Speculations computed and waiting for their accept."""
        with self._lock:
            return sum(s.future.done() for s in self._by_uri.values())

    def used(self, suggestion: Suggestion | None) -> None:
        with self._lock:
            self.stats["used"] += 1
            self.stats["usedTokens"] += suggestion.new_tokens if suggestion is not None else 0

    def forget(self, uri: str) -> None:
        with self._lock:
            speculation = self._by_uri.pop(uri, None)
        if speculation is not None:
            self._wasted(speculation)

    def _wasted(self, speculation: Speculation) -> None:
        def count(future: Future) -> None:
            result = None if future.cancelled() or future.exception() else future.result()
            with self._lock:
                self.stats["wasted"] += 1
                if isinstance(result, Suggestion):
                    self.stats["wastedTokens"] += result.new_tokens
                    self.stats["wastedSeconds"] += result.timings.get("total_ms", 0.0) / 1000
        speculation.future.add_done_callback(count)
