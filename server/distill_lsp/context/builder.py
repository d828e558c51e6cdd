"""Choosing the context for one completion within a token budget.

The budget is split by `ContextShares`. The suffix (nearest lines after the cursor) and
the optional extras (snippets of other open documents, signatures of referenced
definitions, the imports and enclosing scope headers when the prefix was cut above them)
each take at most their share; everything left goes to the prefix, nearest lines first.
Cuts fall at line boundaries except for a single over-long cursor line.

Guarantee: ``count_tokens(ctx.header + ctx.prefix) + count_tokens(ctx.suffix) <= budget``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from tree_sitter import Tree

from .languages import LanguageSpec
from .neighbours import foreign_definitions, rank_snippets, same_family_docs
from .window import CountTokens, anchor_prefix, fit_prefix, fit_suffix, split_lines
from .positions import TextOffsets
from .syntax import (
    definitions,
    enclosing_scopes,
    header_text,
    line_end,
    node_str,
    top_level_imports,
)

logger = logging.getLogger(__name__)

WorkspacePieces = Callable[[Sequence[str], int, CountTokens, Callable[[str], str]], list[tuple[str, str, int]]]
"""Given the names near the cursor, a token limit, the counter and a file's heading: pieces
(source, text, line) of other workspace files that fit (`repo_session.RepoRequest.pieces_for`)."""
_IDENT = re.compile(r"[^\W\d]\w*")
_PARTIAL_WORD = re.compile(r"\w+\Z")
_DEFINED = re.compile(r"\b(?:def|class|function|func|fn|struct|enum|trait|interface|type)\s+([^\W\d]\w*)")
WINDOW_LINES_BEFORE = 12
WINDOW_LINES_AFTER = 4
MAX_REFITS = 4
STICKY_BONUS = 0.2
"""Added to the similarity (Jaccard, 0..1) of the snippets the last request chose."""
_SECTION_ORDER = {"imports": 0, "signatures": 1, "scopes": 2}


@dataclass(frozen=True)
class ContextMemory:
    """The choices of the last context built for a document, kept steady next time: a
    prompt whose start stays the same lets the engine reuse its key/value cache."""

    snippets: tuple[tuple[str, int], ...] = ()
    """(path, line) of the other documents' snippets in the header."""
    start_line: int | None = None
    """First line of the prefix window."""


@dataclass(frozen=True)
class ContextShares:
    """Fractions of the prompt budget each part may use; unused shares go to the prefix."""

    prefix: float = 0.25
    """Guaranteed to the text before the cursor (it also receives every unused share)."""
    suffix: float = 0.20
    """Text after the cursor, nearest lines first."""
    scope_headers: float = 0.06
    """Header lines of the enclosing functions/classes when the prefix starts below them."""
    imports: float = 0.07
    """The file's imports when the prefix starts below them."""
    signatures: float = 0.07
    """Signatures of definitions referenced near the cursor but defined out of view."""
    other_documents: float = 0.10
    """Snippets of other open documents of the same language, most similar first."""
    repository: float = 0.20
    """Definitions from the workspace files the document imports, ranked by the names near the cursor."""
    recent_edits: float = 0.05
    """Regions of other documents edited recently, newest first."""

    def __post_init__(self) -> None:
        values = [self.prefix, self.suffix, self.scope_headers, self.imports, self.signatures,
                  self.other_documents, self.repository, self.recent_edits]
        if any(v < 0 for v in values) or sum(values) > 1.0 + 1e-9:
            raise ValueError(f"context shares must be >= 0 and sum to at most 1: {values}")


@dataclass(frozen=True)
class PromptContext:
    """The pieces of a prompt: `header` goes before `prefix`; the cursor sits between
    `prefix` and `suffix`."""

    prefix: str
    suffix: str
    header: str = ""
    tokens: dict[str, int] = field(default_factory=dict, compare=False)
    """Token counts per part (header, prefix, suffix), for logs."""
    memory: ContextMemory | None = None
    """What this context chose (snippets, window start): pass it back as `memory` for
    the next request on the document, so the choice holds steady while the user types."""
    files: tuple[tuple[str, str], ...] = ()
    """The header's pieces of other files as (path, text), in the header's order (for
    repository-level templates, which name files with their own tokens)."""
    local_header: str = ""
    """The header's part from the current file (imports, signatures, scope headers)."""
    path: str = ""
    """How the header names the current file."""
    repo_name: str = ""

    @property
    def snippets(self) -> tuple[tuple[str, int], ...]:
        return self.memory.snippets if self.memory else ()


@dataclass
class _Piece:
    section: str
    text: str
    source: str | None = None
    """Path of the other document it comes from; None for the current file."""
    start: int = -1
    """str offset in the current document it comes from (a line number for other documents)."""


def identifiers_near(before: str, after: str) -> list[str]:
    """Identifiers around the cursor, nearest first, without repeats. The word being typed
    at the cursor is left out: it is a fragment ("ch", "chu", ...) that would change what
    the context picks at every keystroke, and with it the prompt's start."""
    above = "".join(split_lines(before)[-WINDOW_LINES_BEFORE:])
    partial = _PARTIAL_WORD.search(above)
    if partial is not None:
        above = above[:partial.start()]
    below = "".join(split_lines(after)[:WINDOW_LINES_AFTER])
    names = [m.group() for m in reversed(list(_IDENT.finditer(above)))]
    names += [m.group() for m in _IDENT.finditer(below)]
    return list(dict.fromkeys(names))


def _memo(count: CountTokens) -> CountTokens:
    """`count` remembering its answers for the duration of one build."""
    cache: dict[str, int] = {}

    def counted(text: str) -> int:
        if text not in cache:
            cache[text] = count(text)
        return cache[text]

    return counted


class _Document:
    """The current document as the extras see it: bytes, tree, str offsets of nodes."""

    def __init__(self, text: str, offset: int, lang: LanguageSpec, tree: Tree) -> None:
        self.text, self.offset, self.lang, self.tree = text, offset, lang, tree
        self.offsets = TextOffsets(text)
        self.data = self.offsets.data
        self.cursor_byte = self.offsets.to_byte(offset)
        self.to_str = self.offsets.to_str

    def scope_headers(self) -> list[_Piece]:
        """Headers of the scopes around the cursor, innermost first."""
        scopes = enclosing_scopes(self.tree, self.cursor_byte, self.lang, self.data)
        return [_Piece("scopes", header_text(n, self.data) + "\n", None, self.to_str(n.start_byte))
                for n in reversed(scopes)]

    def imports(self) -> list[_Piece]:
        pieces = []
        for node in top_level_imports(self.tree, self.lang):
            end = line_end(self.data, max(node.start_byte, node.end_byte - 1))
            text = node_str(self.data, node.start_byte, end).rstrip() + "\n"
            pieces.append(_Piece("imports", text, None, self.to_str(node.start_byte)))
        return pieces

    def local_definitions(self, names: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        """name -> (signature, str start, str end) of the first definition of each of `names`."""
        wanted = set(names)
        found: dict[str, tuple[str, int, int]] = {}
        for d in definitions(self.tree, self.data, self.lang, wanted):
            if d.name in wanted and d.name not in found:
                found[d.name] = (d.signature, self.to_str(d.start_byte), self.to_str(d.end_byte))
        return found


def header_parts(pieces: Sequence[_Piece]) -> tuple[list[tuple[str, str]], str]:
    """(path, text) per other file in `render_header`'s order, and the current file's part."""
    foreign = sorted((p for p in pieces if p.source is not None),
                     key=lambda p: (p.source or "", p.section != "other", p.start, p.text))
    own = sorted((p for p in pieces if p.source is None), key=lambda p: (_SECTION_ORDER[p.section], p.start))
    files = [(source or "", "".join(p.text for p in foreign if p.source == source))
             for source in dict.fromkeys(p.source for p in foreign)]
    return files, "".join(p.text for p in own)


def render_header(pieces: Sequence[_Piece], lang: LanguageSpec | None, path: str | None) -> str:
    """Other documents first, each under a comment naming it; then the current file's
    imports, signatures and scope headers (outermost scope first, next to the prefix).

    Pieces appear in document order, not in order of rank: while the user types, the
    ranking shifts from keystroke to keystroke but the chosen set seldom does, and a
    header that stays the same keeps the prompt's prefix (and its key/value cache) valid.
    """
    if not pieces or lang is None:
        return ""
    files, local = header_parts(pieces)
    out = [lang.comment(source) + "\n" + text for source, text in files]
    if files:
        out.append(lang.comment(path if path else "current file") + "\n")
    return "".join(out) + local


def _take(pieces: Sequence[_Piece], limit: int, count: CountTokens,
          lang: LanguageSpec | None = None) -> list[_Piece]:
    """Pieces in order while they fit in `limit` tokens (with a heading per new source)."""
    taken: list[_Piece] = []
    sources: set[str] = set()
    used = 0
    for piece in pieces:
        cost = count(piece.text)
        if piece.source is not None and piece.source not in sources and lang is not None:
            cost += count(lang.comment(piece.source) + "\n")
        if used + cost <= limit:
            taken.append(piece)
            used += cost
            if piece.source is not None:
                sources.add(piece.source)
    return taken


def build_context(text: str, offset: int, lang: LanguageSpec | None, tree: Tree | None,
                  other_docs: Sequence[tuple[str, str]], count_tokens: CountTokens, budget: int,
                  shares: ContextShares = ContextShares(), *, path: str | None = None,
                  memory: ContextMemory | None = None, workspace: WorkspacePieces | None = None,
                  recent: Sequence[tuple[str, str, int]] = (), repo_name: str = "") -> PromptContext:
    """The prompt context around `offset` (a str index into `text`) within `budget` tokens.

    `tree` is the parse of `text` (None: no syntax-aware extras); `other_docs` are (path,
    text) of other open documents; `path` names the current document in the header when
    snippets of other documents precede it. `memory` is what the last request on this
    document chose: its snippets rank as if `STICKY_BONUS` more similar (a new one must be
    clearly better to displace them) and its window start holds while it fits, so the
    header and the prompt's start, and with them the key/value cache, survive typing.
    `recent` are (path, text, line) of regions of other documents edited lately, newest
    first; `workspace` gives definitions from other files of the workspace. Each takes at
    most its share; `repo_name` is passed on for repository-level templates.
    """
    offset = min(max(0, offset), len(text))
    budget = max(0, budget)
    count_tokens = _memo(count_tokens)
    before, after = text[:offset], text[offset:]
    suffix = fit_suffix(after, int(budget * shares.suffix), count_tokens)
    available = budget - (count_tokens(suffix) if suffix else 0)
    names = identifiers_near(before, after)
    docs = same_family_docs(other_docs, lang) if lang is not None else []

    ranked = rank_snippets(names, docs)
    memory = memory or ContextMemory()
    keep_line = memory.start_line
    if memory.snippets:
        kept = set(memory.snippets)
        ranked.sort(key=lambda s: (-(s.score + (STICKY_BONUS if (s.path, s.line) in kept else 0.0)),
                                   s.path, s.line))
    snippets = [_Piece("other", s.text, s.path, s.line) for s in ranked]
    pieces = _take(snippets, int(budget * shares.other_documents), count_tokens, lang)
    pieces += _take([_Piece("other", t, src, line) for src, t, line in recent], int(budget * shares.recent_edits),
                    count_tokens, lang)
    if workspace is not None and lang is not None:
        heading = (lambda source: lang.comment(source) + "\n")
        pieces += [_Piece("repo", t, src, line)
                   for src, t, line in workspace(names, int(budget * shares.repository), count_tokens, heading)]
    reserve = int(budget * (shares.scope_headers + shares.imports + shares.signatures))
    head = count_tokens(render_header(pieces, lang, path))
    start = offset - len(anchor_prefix(before, fit_prefix(before, available - head - reserve, count_tokens),
                                       keep_line=keep_line))
    doc = _Document(text, offset, lang, tree) if lang is not None and tree is not None else None
    pieces += _extras(doc, names, docs, (start, offset + len(suffix)), count_tokens, budget,
                      shares, lang)
    prefix = before
    for _ in range(MAX_REFITS):
        header = render_header(pieces, lang, path)
        prefix = anchor_prefix(before, fit_prefix(before, available - count_tokens(header), count_tokens),
                               keep_line=keep_line)
        window = (offset - len(prefix), offset + len(suffix))
        visible = {id(p) for p in pieces if p.source is None and window[0] <= p.start < window[1]}
        if not visible:
            break
        pieces = [p for p in pieces if id(p) not in visible]
    ctx = _enforce(pieces, prefix, suffix, lang, path, count_tokens, budget, before)
    return replace(ctx, path=path or "", repo_name=repo_name)


def _signatures(doc: _Document | None, names: Sequence[str],
                docs: Sequence[tuple[str, str, LanguageSpec]], window: tuple[int, int]) -> list[_Piece]:
    """Signatures of `names`, nearest name first: from this file when defined here out of
    `window` (and not around the cursor), else from another document."""
    local = doc.local_definitions(names) if doc is not None else {}
    # a parse with an error near the cursor can hide a local definition for one keystroke;
    # the text still shows it, and a foreign signature in its place would flicker in and out
    defined = names_defined_in_text(doc.text) if doc is not None and docs else frozenset()
    wanted = [n for n in names if n not in local and n not in defined]
    foreign = foreign_definitions(wanted, docs) if docs and wanted else {}
    pieces: list[_Piece] = []
    for name in names:
        if name in local:
            sig, start, end = local[name]
            around_cursor = doc is not None and start <= doc.offset <= end
            if not (window[0] <= start < window[1] or around_cursor):
                pieces.append(_Piece("signatures", sig + "\n", None, start))
        elif name in foreign:
            source, definition = foreign[name]
            pieces.append(_Piece("signatures", definition.signature + "\n", source))
    return pieces


def names_defined_in_text(text: str) -> frozenset[str]:
    """Names that follow a definition keyword in `text` (def, class, function, ...): one
    scan of the document, whatever the number of names asked about."""
    return frozenset(_DEFINED.findall(text))


def _extras(doc: _Document | None, names: Sequence[str], docs: Sequence[tuple[str, str, LanguageSpec]],
            window: tuple[int, int], count: CountTokens, budget: int, shares: ContextShares,
            lang: LanguageSpec | None) -> list[_Piece]:
    """Scope headers and imports cut off above the window, and signatures out of view, each
    within its share."""
    cut = doc is not None and window[0] > 0
    scopes = [p for p in doc.scope_headers() if p.start < window[0]] if doc and cut else []
    imports = [p for p in doc.imports() if p.start < window[0]] if doc and cut else []
    sigs = _signatures(doc, names, docs, window)
    return (_take(scopes, int(budget * shares.scope_headers), count)
            + _take(imports, int(budget * shares.imports), count)
            + _take(sigs, int(budget * shares.signatures), count, lang))


def _enforce(pieces: list[_Piece], prefix: str, suffix: str, lang: LanguageSpec | None,
             path: str | None, count: CountTokens, budget: int, before: str) -> PromptContext:
    """Shrink until the real count fits (tokens of joined text can exceed the sum of parts)."""
    header = render_header(pieces, lang, path)
    while True:
        head_prefix, tail = count(header + prefix), count(suffix)
        if head_prefix + tail <= budget:
            tokens = {"header": count(header), "prefix": count(prefix), "suffix": tail}
            chosen = tuple((p.source, p.start) for p in pieces if p.section == "other" and p.source)
            start_line = before.count("\n", 0, len(before) - len(prefix))
            files, local = header_parts(pieces)
            return PromptContext(prefix, suffix, header, tokens, ContextMemory(chosen, start_line), tuple(files),
                                 local)
        lines = split_lines(prefix)
        if len(lines) > 1:
            prefix = "".join(lines[1:])
        elif pieces:
            pieces = pieces[:-1]
            header = render_header(pieces, lang, path)
        elif suffix:
            suffix = suffix[: len(suffix) // 2] if len(suffix) > 1 else ""
        else:
            prefix = prefix[1:]
        logger.debug("context over budget after joining; shrinking")
