"""Definitions from other files of the workspace for one completion: the files the
document's imports name (`imports`), their outlines (`repo_index`), ranked by the
identifiers used near the cursor, packed within a token limit.

`WorkspaceContext` is what the completion pipeline holds: a snapshot-free object whose
`snippets(...)` runs on the engine worker, reading only through `WorkspaceFiles`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Tree

from . import imports
from .imports import ImportTarget
from .languages import LanguageSpec
from .neighbours import _COMMON as COMMON_WORDS
from .outline import RepoDefinition
from .positions import encode
from .repo_index import FileOutline, RepoIndex

logger = logging.getLogger(__name__)

CountTokens = Callable[[str], int]
NEAR_DECAY = 0.15
"""A name's weight is 1 / (1 + NEAR_DECAY * its rank among the identifiers near the cursor)."""
NAME_WEIGHT = 2.0
MENTION_WEIGHT = 0.25
PRIVATE_FACTOR = 0.7
GLOBAL_FACTOR = 0.5
"""Definitions found by name in files no import names rank at this fraction."""
MAX_GLOBAL_FILES = 3
"""A name defined in more files than this is too common to look up outside the imports."""
MAX_NAMES = 48
MAX_CANDIDATES = 24
"""The best this many definitions are tried for the budget (each is counted with the tokenizer)."""


@dataclass(frozen=True)
class RepoSnippet:
    """One piece of workspace context: `source` is the file's path relative to its folder."""

    source: str
    text: str
    line: int
    score: float
    name: str = ""
    parent: str = ""
    """For a method: its class, whose `header` is shown once above the methods taken."""
    header: str = ""


def _name_weights(names: Sequence[str]) -> dict[str, float]:
    """Weights of the names near the cursor (nearest first), keywords and one-letter names left out."""
    kept = [n for n in names if len(n) > 1 and n not in COMMON_WORDS][:MAX_NAMES]
    return {n: 1.0 / (1.0 + NEAR_DECAY * rank) for rank, n in enumerate(kept)}


def score(definition: RepoDefinition, weights: Mapping[str, float]) -> float:
    """How much a definition speaks of the names near the cursor (0: not at all)."""
    own = NAME_WEIGHT * weights.get(definition.name, 0.0)
    if definition.parent and definition.parent in weights:
        own += 0.5 * weights[definition.parent] * (own > 0)
    mentions = sum(weights[i] for i in definition.idents & weights.keys() if i != definition.name)
    value = own + MENTION_WEIGHT * mentions if own else MENTION_WEIGHT * mentions * 0.5
    return value if definition.exported else value * PRIVATE_FACTOR


def targets_for(path: Path, text: str, tree: Tree, lang: LanguageSpec, roots: tuple[Path, ...],
                exists: Callable[[Path], bool], listdir: Callable[[Path], list[Path]],
                read: Callable[[Path], str | None], package: str = "") -> list[ImportTarget]:
    """The workspace files the document's imports (and package) name, by language."""
    data = encode(text)
    if lang.name == "python":
        return imports.python_imports(tree, data, path, roots, exists)
    if lang.family == "js":
        return imports.js_imports(tree, data, path, exists)
    if lang.name == "go":
        return imports.go_imports(tree, data, path, roots, exists, listdir, read)
    if lang.name == "rust":
        return imports.rust_imports(tree, data, path, roots, exists)
    if lang.family == "c":
        return imports.c_imports(tree, data, path, roots, exists)
    if lang.name == "java":
        return imports.java_imports(tree, data, path, package, exists, listdir)
    return []


class WorkspaceContext:
    """The workspace as completion context: folders, index, and the open documents that
    win over their files."""

    def __init__(self, index: RepoIndex) -> None:
        self.index = index
        self.files = index.files
        self._open_outlines: dict[tuple[Path, int], FileOutline] = {}

    def _exists(self, path: Path) -> bool:
        return self.files.resolve(path) is not None

    def _listdir(self, folder: Path) -> list[Path]:
        if self.files.root_of(folder) is None:
            return []
        try:
            return [folder / name for name in sorted(os.listdir(folder))]
        except OSError:
            return []

    def _outline(self, path: Path, open_docs: Mapping[str, str]) -> FileOutline | None:
        text = open_docs.get(str(path))
        if text is None:
            return self.index.outline(path)
        from .languages import detect_language

        lang = detect_language(None, str(path))
        if lang is None:
            return None
        key = (path, hash(text))
        if key not in self._open_outlines:
            if len(self._open_outlines) > 32:
                self._open_outlines.clear()
            self._open_outlines[key] = self.index.outline_text(path, text, lang)
        return self._open_outlines[key]

    def snippets(self, path: str, text: str, tree: Tree | None, lang: LanguageSpec | None, names: Sequence[str],
                 open_docs: Mapping[str, str]) -> list[RepoSnippet]:
        """Definitions from the files the document imports (and, for names those do not
        define, from files that define them), best first. `open_docs` maps resolved paths
        of open documents to their text: an open document wins over its file."""
        real = Path(os.path.realpath(path)) if path else None
        root = self.files.root_of(real) if real is not None else None
        if real is None or root is None or lang is None or tree is None:
            return []
        weights = _name_weights(names)
        if not weights:
            return []
        roots = self.files.roots
        read = self.files.read_text
        targets = targets_for(real, text, tree, lang, roots, self._exists, self._listdir, read)
        scored: list[tuple[float, Path, RepoDefinition]] = []
        covered: set[str] = set()
        seen = {real}
        for target in targets:
            if target.path in seen:
                continue
            seen.add(target.path)
            found = self._outline(target.path, open_docs)
            for definition in found.definitions if found is not None else ():
                value = score(definition, weights) * target.weight
                if value > 0:
                    scored.append((value, target.path, definition))
                    covered.add(definition.name)
        scored += self._by_name(weights, covered, seen, lang, open_docs)
        scored.sort(key=lambda s: (-s[0], str(s[1]), s[2].line))
        return [RepoSnippet(self._display(p), d.text, d.line, v, d.name, d.parent, d.parent_header)
                for v, p, d in scored]

    def _by_name(self, weights: Mapping[str, float], covered: set[str], seen: set[Path], lang: LanguageSpec,
                 open_docs: Mapping[str, str]) -> list[tuple[float, Path, RepoDefinition]]:
        out: list[tuple[float, Path, RepoDefinition]] = []
        for name in [n for n in weights if n not in covered][:16]:
            holders = [p for p in self.index.files_defining(name) if p not in seen]
            if not holders or len(holders) > MAX_GLOBAL_FILES:
                continue
            for holder in holders:
                spec_ok = holder.suffix in lang.extensions or lang.family and holder.suffix in _FAMILY_EXT.get(
                    lang.family, ())
                found = self._outline(holder, open_docs) if spec_ok else None
                for definition in found.definitions if found is not None else ():
                    if definition.name == name:
                        out.append((score(definition, weights) * GLOBAL_FACTOR, holder, definition))
        return out

    def _display(self, path: Path) -> str:
        root = self.files.root_of(path)
        return path.relative_to(root).as_posix() if root is not None else path.name


_FAMILY_EXT = {"js": (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts"),
               "c": (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx")}


def pack(snippets: Sequence[RepoSnippet], limit: int, count: CountTokens,
         heading: Callable[[str], str]) -> list[RepoSnippet]:
    """The best snippets that fit in `limit` tokens, a heading counted once per file and a
    class header once per class whose methods are taken (shown above the first of them)."""
    taken: list[RepoSnippet] = []
    sources: set[str] = set()
    classes: set[tuple[str, str]] = set()
    used = 0
    for snippet in snippets[:MAX_CANDIDATES]:
        if any(t.text == snippet.text and t.source == snippet.source for t in taken):
            continue
        cost = count(snippet.text + "\n") + (0 if snippet.source in sources else count(heading(snippet.source)))
        group = (snippet.source, snippet.parent)
        if snippet.parent and group not in classes:
            cost += count(snippet.header + "\n")
        if used + cost <= limit:
            taken.append(snippet)
            sources.add(snippet.source)
            classes.add(group if snippet.parent else (snippet.source, snippet.name))
            used += cost
    return _with_class_headers(taken)


def _with_class_headers(taken: list[RepoSnippet]) -> list[RepoSnippet]:
    """Methods under their class: the first (by line) of each class's methods carries the
    class header, unless the class's own entry was taken."""
    own = {(s.source, s.name) for s in taken if not s.parent}
    firsts: dict[tuple[str, str], RepoSnippet] = {}
    for s in sorted((s for s in taken if s.parent), key=lambda s: s.line):
        firsts.setdefault((s.source, s.parent), s)
    out = []
    for s in taken:
        group = (s.source, s.parent)
        if s.parent and firsts.get(group) is s and group not in own:
            s = RepoSnippet(s.source, f"{s.header}\n{s.text}", s.line, s.score, s.name, s.parent, s.header)
        out.append(s)
    return out
