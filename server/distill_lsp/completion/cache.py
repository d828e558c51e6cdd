"""The typed-ahead cache: while the user types the start of the last suggestion, the rest
of it is served again without asking the model.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    prefix: str
    suggestion: str


class TypedAheadCache:
    """Last suggestion per document, keyed by uri; at most `max_entries` documents."""

    def __init__(self, max_entries: int = 64) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, uri: str, prefix_text: str, suggestion: str) -> None:
        """Record `suggestion`, shown when the text before the cursor was `prefix_text`."""
        with self._lock:
            if not suggestion:
                self._entries.pop(uri, None)
                return
            self._entries[uri] = _Entry(prefix_text, suggestion)
            self._entries.move_to_end(uri)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def lookup(self, uri: str, prefix_text: str) -> str | None:
        """The untyped rest of the remembered suggestion when `prefix_text` is the old prefix
        plus the suggestion's start; forgets it once typed out or diverged from."""
        with self._lock:
            entry = self._entries.get(uri)
            if entry is None:
                return None
            typed = prefix_text[len(entry.prefix):] if prefix_text.startswith(entry.prefix) else None
            if typed is None or not entry.suggestion.startswith(typed):
                del self._entries[uri]
                return None
            rest = entry.suggestion[len(typed):]
            if not rest:
                del self._entries[uri]
                return None
            self._entries.move_to_end(uri)
            return rest

    def forget(self, uri: str) -> None:
        with self._lock:
            self._entries.pop(uri, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
