"""The open documents of one session: the only place any feature reads a document from.

Each document is kept once, under its normalised URI (`uris.document_key`), as an
immutable `Document`: text, version, language, line starts, parse tree and path. An edit
makes a new `Document`; one handed out earlier never changes, so a request can keep its
snapshot while the user types, and `watching` tells it when its document changes. The
store also keeps, per document, what the last completion's context chose (`memory`),
forgotten with the document.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from tree_sitter import Tree

from .context.builder import ContextMemory
from .context.languages import LanguageSpec, detect_language
from .context.positions import line_starts, offset_at, position_at
from .context.trees import IncrementalParser
from .uris import document_key, to_path

logger = logging.getLogger(__name__)

Change = tuple[tuple[tuple[int, int], tuple[int, int]] | None, str]
"""One content change: ((start line, UTF-16 column), (end line, column)) and the new text;
a range of None replaces the whole document."""


class DocumentError(Exception):
    """A change the store cannot apply."""


class UnknownDocument(DocumentError, KeyError):
    """A change for a document that is not open."""


class StaleVersion(DocumentError):
    """A change whose version is not newer than the document's."""

    def __init__(self, uri: str, version: int, held: int | None) -> None:
        super().__init__(f"version {version} of {uri} is not newer than {held}")
        self.version, self.held = version, held


@dataclass(frozen=True)
class Document:
    """One version of an open document."""

    uri: str
    """As the client sent it in didOpen (edits and action data name it so)."""
    key: str
    """The normalised URI, the store's key."""
    version: int | None
    text: str
    language_id: str
    lang: LanguageSpec | None
    tree: Tree | None = field(default=None, compare=False)
    """Parse of `text` (never edited afterwards); None for unknown languages and huge documents."""

    @property
    def path(self) -> str:
        return to_path(self.uri)

    @cached_property
    def line_starts(self) -> list[int]:
        return line_starts(self.text)

    def offset_at(self, line: int, character: int) -> int:
        """str index of an LSP position (UTF-16 column), clamped into the document."""
        return offset_at(self.text, line, character, self.line_starts)

    def position_at(self, offset: int) -> tuple[int, int]:
        """LSP position (line, UTF-16 column) of a str index."""
        return position_at(self.text, offset, self.line_starts)


class DocumentStore:
    """The session's open documents, by normalised URI. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[str, Document] = {}
        self._memory: dict[str, ContextMemory] = {}
        self._watchers: dict[str, list[Callable[[], None]]] = {}
        self._parser = IncrementalParser()

    def open(self, uri: str, text: str, version: int | None, language_id: str | None) -> Document:
        """Start tracking a document (a second didOpen replaces the first)."""
        key = document_key(uri)
        lang = detect_language(language_id, to_path(uri))
        with self._lock:
            doc = Document(uri, key, version, text, language_id or "", lang, self._parser.parse(lang, text))
            self._docs[key] = doc
            self._memory.pop(key, None)
        self._changed(key)
        return doc

    def change(self, uri: str, version: int, changes: Sequence[Change]) -> Document:
        """Apply didChange's content changes in order; UnknownDocument / StaleVersion when it cannot."""
        key = document_key(uri)
        with self._lock:
            doc = self._docs.get(key)
            if doc is None:
                raise UnknownDocument(uri)
            if doc.version is not None and version <= doc.version:
                raise StaleVersion(uri, version, doc.version)
            text, tree = doc.text, doc.tree
            for span, new_text in changes:
                text, tree = self._apply(doc.lang, text, tree, span, new_text)
            new = Document(doc.uri, key, version, text, doc.language_id, doc.lang, tree)
            self._docs[key] = new
        self._changed(key)
        return new

    def _apply(self, lang: LanguageSpec | None, text: str, tree: Tree | None,
               span: tuple[tuple[int, int], tuple[int, int]] | None, new_text: str) -> tuple[str, Tree | None]:
        if span is None:
            return new_text, self._parser.parse(lang, new_text)
        starts = line_starts(text)
        a = offset_at(text, *span[0], starts=starts)
        b = max(a, offset_at(text, *span[1], starts=starts))
        return text[:a] + new_text + text[b:], self._parser.reparse(lang, tree, text, a, b, new_text)

    def close(self, uri: str) -> None:
        key = document_key(uri)
        with self._lock:
            self._docs.pop(key, None)
            self._memory.pop(key, None)
        self._changed(key)

    def get(self, uri: str) -> Document | None:
        """The current version of the document at `uri` (any spelling of it), None if not open."""
        with self._lock:
            return self._docs.get(document_key(uri))

    def version(self, uri: str) -> int | None:
        doc = self.get(uri)
        return doc.version if doc is not None else None

    def documents(self) -> list[Document]:
        with self._lock:
            return list(self._docs.values())

    def memory(self, uri: str) -> ContextMemory | None:
        """What the last completion's context chose in this document (None at first)."""
        with self._lock:
            return self._memory.get(document_key(uri))

    def remember(self, uri: str, memory: ContextMemory) -> None:
        key = document_key(uri)
        with self._lock:
            if key in self._docs:
                self._memory[key] = memory

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()
            self._memory.clear()
            keys = list(self._watchers)
        for key in keys:
            self._changed(key)

    @contextmanager
    def watching(self, uri: str, on_change: Callable[[], None]) -> Iterator[None]:
        """Within the block, `on_change` is called (once, on the thread that changes the
        store) when the document at `uri` changes, closes or is opened again."""
        key = document_key(uri)
        with self._lock:
            self._watchers.setdefault(key, []).append(on_change)
        try:
            yield
        finally:
            with self._lock:
                watchers = self._watchers.get(key, [])
                if on_change in watchers:
                    watchers.remove(on_change)
                if not watchers:
                    self._watchers.pop(key, None)

    def _changed(self, key: str) -> None:
        with self._lock:
            watchers = self._watchers.pop(key, [])
        for on_change in watchers:
            on_change()
