"""A tree-sitter parse tree per open document, kept in step with LSP incremental changes.

The cache holds its own copy of every document's text, applies each change to it, edits
the old tree with the matching byte offsets and points, and re-parses incrementally.
Trees handed out by `get` are never edited afterwards (edits go to a copy), so readers
on other threads can keep using them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from tree_sitter import Parser, Point, Tree

from .languages import LanguageSpec
from .positions import advance_point, byte_offset, encode, offset_at, ts_point

logger = logging.getLogger(__name__)

MAX_PARSE_CHARS = 1_000_000
"""Larger documents are not parsed (each edit would block for a second or more); the
context builder then works on their plain text, like for unknown languages."""


class ContextError(Exception):
    """Base of the errors raised by the context package."""


class UnknownDocument(ContextError, KeyError):
    """A change or lookup for a document the cache does not hold."""


@dataclass
class _Entry:
    text: str
    lang: LanguageSpec | None
    tree: Tree | None


class TreeCache:
    """Text and parse tree of every open document, keyed by uri. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[str, _Entry] = {}
        self._parsers: dict[str, Parser] = {}

    def open(self, uri: str, text: str, lang: LanguageSpec | None) -> None:
        """Start tracking a document (replaces any previous state for `uri`)."""
        with self._lock:
            self._docs[uri] = _Entry(text, lang, self._parse(lang, text, None))

    def replace(self, uri: str, text: str) -> None:
        """A full-document sync: parse `text` from scratch."""
        with self._lock:
            entry = self._entry(uri)
            entry.text, entry.tree = text, self._parse(entry.lang, text, None)

    def apply_change(self, uri: str, start: tuple[int, int], end: tuple[int, int],
                     new_text: str) -> None:
        """Apply one LSP incremental change: replace the (line, UTF-16 column) range."""
        with self._lock:
            entry = self._entry(uri)
            old = entry.text
            a = offset_at(old, *start)
            b = max(a, offset_at(old, *end))
            text = old[:a] + new_text + old[b:]
            tree = None
            if entry.tree is not None:
                tree = entry.tree.copy()
                _edit_tree(tree, old, a, b, new_text)
            entry.text, entry.tree = text, self._parse(entry.lang, text, tree)

    def close(self, uri: str) -> None:
        with self._lock:
            self._docs.pop(uri, None)

    def get(self, uri: str) -> tuple[str, Tree | None] | None:
        """The current (text, tree) of a document; tree is None for unknown languages."""
        with self._lock:
            entry = self._docs.get(uri)
            return None if entry is None else (entry.text, entry.tree)

    def language(self, uri: str) -> LanguageSpec | None:
        with self._lock:
            entry = self._docs.get(uri)
            return None if entry is None else entry.lang

    def documents(self) -> list[tuple[str, str, LanguageSpec | None]]:
        """(uri, text, language) of every open document."""
        with self._lock:
            return [(uri, e.text, e.lang) for uri, e in self._docs.items()]

    def _entry(self, uri: str) -> _Entry:
        try:
            return self._docs[uri]
        except KeyError:
            raise UnknownDocument(uri) from None

    def _parse(self, lang: LanguageSpec | None, text: str, old: Tree | None) -> Tree | None:
        if lang is None or len(text) > MAX_PARSE_CHARS:
            return None
        parser = self._parsers.get(lang.name)
        if parser is None:
            parser = self._parsers[lang.name] = lang.parser()
        data = encode(text)
        return parser.parse(data, old) if old is not None else parser.parse(data)


def _edit_tree(tree: Tree, old: str, a: int, b: int, new_text: str) -> None:
    """Describe replacing old[a:b] by `new_text` to `tree` in bytes and points."""
    start_byte = byte_offset(old, a)
    old_end_byte = start_byte + len(encode(old[a:b]))
    start_point = ts_point(old, a)
    tree.edit(
        start_byte=start_byte,
        old_end_byte=old_end_byte,
        new_end_byte=start_byte + len(encode(new_text)),
        start_point=Point(*start_point),
        old_end_point=Point(*advance_point(start_point, old[a:b])),
        new_end_point=Point(*advance_point(start_point, new_text)),
    )
