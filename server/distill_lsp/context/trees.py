"""Tree-sitter parse trees kept in step with edits: an edit is described to the old tree
in byte offsets and points, and the text re-parsed incrementally. The document store
(`distill_lsp.document_store`) holds the text and tree of every open document."""

from __future__ import annotations

import logging

from tree_sitter import Parser, Point, Tree

from .languages import LanguageSpec
from .positions import advance_point, byte_offset, encode, ts_point

logger = logging.getLogger(__name__)

MAX_PARSE_CHARS = 1_000_000
"""Larger documents are not parsed (each edit would block for a second or more); the
context builder then works on their plain text, like for unknown languages."""


class IncrementalParser:
    """One tree-sitter parser per language: parses a text, or re-parses it after an edit
    reusing the old tree. Not thread-safe: its owner (the document store) holds a lock.

    The old tree is never edited (the edit goes to a copy), so trees handed out earlier
    stay valid for readers on other threads.
    """

    def __init__(self) -> None:
        self._parsers: dict[str, Parser] = {}

    def parse(self, lang: LanguageSpec | None, text: str) -> Tree | None:
        """A fresh parse; None for unknown languages and documents over MAX_PARSE_CHARS."""
        return self._parse(lang, text, None)

    def reparse(self, lang: LanguageSpec | None, tree: Tree | None, old: str, a: int, b: int,
                new_text: str) -> Tree | None:
        """The parse of ``old[:a] + new_text + old[b:]``, incremental from `tree` when there is one."""
        edited = None
        if tree is not None:
            edited = tree.copy()
            _edit_tree(edited, old, a, b, new_text)
        return self._parse(lang, old[:a] + new_text + old[b:], edited)

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
