"""Regions the user edited recently, across documents: a bounded ring of small chunks
(llama.vscode's idea), used as extra context with a budget share of their own.

A chunk is the few lines around an edit, taken from the document's text after it. An
edit inside or next to a chunk of the same document replaces that chunk, so typing
along a function keeps one chunk moving with it. The ring keeps the newest
`max_chunks`. Chunks of the document being completed are left out of its prompt (its
own text is there already, and a chunk that changes at every keystroke would change
the prompt's start and spoil the key/value cache); the others do not change while the
user types elsewhere.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

LINES_BEFORE = 3
LINES_AFTER = 4
MAX_CHUNK_CHARS = 600
MAX_CHUNKS = 16


@dataclass(frozen=True)
class EditChunk:
    path: str
    start: int
    """First line of the chunk in its document."""
    end: int
    text: str


class RecentEdits:
    """The ring of recently edited chunks. Thread-safe."""

    def __init__(self, max_chunks: int = MAX_CHUNKS) -> None:
        self._lock = threading.Lock()
        self._ring: deque[EditChunk] = deque(maxlen=max(1, max_chunks))

    def record(self, path: str, text: str, line: int) -> EditChunk | None:
        """Note an edit at `line` of `text` (the document after the edit)."""
        if not path:
            return None
        lines = text.split("\n")
        start = max(0, line - LINES_BEFORE)
        end = min(len(lines), line + LINES_AFTER + 1)
        body = "\n".join(lines[start:end])[:MAX_CHUNK_CHARS]
        if not body.strip():
            return None
        chunk = EditChunk(path, start, end, body if body.endswith("\n") else body + "\n")
        with self._lock:
            kept = [c for c in self._ring
                    if not (c.path == path and c.start <= end + 1 and start <= c.end + 1)]
            self._ring.clear()
            self._ring.extend(kept)
            self._ring.append(chunk)
        return chunk

    def forget(self, path: str) -> None:
        with self._lock:
            kept = [c for c in self._ring if c.path != path]
            self._ring.clear()
            self._ring.extend(kept)

    def chunks(self, exclude: str = "") -> list[EditChunk]:
        """Newest first, without the chunks of `exclude` (the document being completed)."""
        with self._lock:
            return [c for c in reversed(self._ring) if c.path != exclude]

    def __len__(self) -> int:
        with self._lock:
            return len(self._ring)
