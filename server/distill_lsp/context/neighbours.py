"""Other open documents as context: snippets ranked by identifier overlap with the cursor
window, and the definitions they hold (parsed once per text, cached).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from .languages import LanguageSpec, detect_language
from .positions import encode
from .syntax import Definition, definitions

logger = logging.getLogger(__name__)

CHUNK_LINES = 10
MAX_DOC_CHARS = 400_000
MAX_DOCS = 20
_IDENT = re.compile(r"[^\W\d]\w*")
_COMMON = frozenset(
    "and as async await bool break case catch char class const continue def default del do elif "
    "else enum except export extends false final finally float fn for from func function go if "
    "impl import in int interface is let match mod mut new nil none not null or package pass pub "
    "public private protected raise return self static str string struct super switch this throw "
    "true try type use var void while with yield".split()
)


@dataclass(frozen=True)
class Snippet:
    path: str
    text: str
    score: float
    line: int


def identifier_set(text: str) -> set[str]:
    """Identifiers worth comparing: not keywords, not one letter."""
    return {m.group() for m in _IDENT.finditer(text)} - _COMMON - {""} - set("abcdefghijklmnopqrstuvwxyz_")


def same_family_docs(others: Iterable[tuple[str, str]], lang: LanguageSpec) -> list[tuple[str, str, LanguageSpec]]:
    """(path, text, language) of the documents of `lang`'s family, bounded in number and size."""
    out: list[tuple[str, str, LanguageSpec]] = []
    for path, text in others:
        spec = detect_language(None, path)
        if spec is not None and spec.same_family(lang) and len(text) <= MAX_DOC_CHARS:
            out.append((path, text, spec))
    return out[:MAX_DOCS]


def _chunks(text: str) -> Iterable[tuple[int, str]]:
    lines = text.splitlines(keepends=True)
    for start in range(0, len(lines), CHUNK_LINES):
        yield start, "".join(lines[start:start + CHUNK_LINES])


def rank_snippets(names: Sequence[str], docs: Sequence[tuple[str, str, LanguageSpec]]) -> list[Snippet]:
    """Chunks of `docs` sharing identifiers with `names`, best Jaccard similarity first."""
    window = identifier_set(" ".join(names))
    if not window:
        return []
    ranked: list[Snippet] = []
    for path, text, _ in docs:
        for line, chunk in _chunks(text):
            ids = identifier_set(chunk)
            shared = len(ids & window)
            if shared:
                ranked.append(Snippet(path, chunk if chunk.endswith("\n") else chunk + "\n",
                                      shared / len(ids | window), line))
    ranked.sort(key=lambda s: (-s.score, s.path, s.line))
    return ranked


@lru_cache(maxsize=32)
def _definitions_of(text: str, lang: LanguageSpec) -> tuple[Definition, ...]:
    data = encode(text)
    tree = lang.parser().parse(data)
    return tuple(definitions(tree, data, lang))


def foreign_definitions(names: Sequence[str], docs: Sequence[tuple[str, str, LanguageSpec]]
                        ) -> dict[str, tuple[str, Definition]]:
    """The first definition of each of `names` found in `docs`: name -> (path, definition)."""
    wanted = set(names)
    found: dict[str, tuple[str, Definition]] = {}
    for path, text, spec in docs:
        if not wanted & set(_IDENT.findall(text)):
            continue
        for definition in _definitions_of(text, spec):
            if definition.name in wanted and definition.name not in found:
                found[definition.name] = (path, definition)
    return found
