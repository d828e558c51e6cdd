"""The workspace index: file outlines (parse cache keyed by path and mtime) and a map from
defined names to the files that define them, within a memory cap.

- `outline(path)` parses a workspace file on first use (tree-sitter, `outline.outline`)
  and keeps the result until its mtime or size changes, `invalidate` is called
  (`workspace/didChangeWatchedFiles`), or the memory cap evicts it (least recently used).
- `build()` lists the whole workspace (`WorkspaceFiles.source_files`) in the background
  and records the names each file defines (a scan for definition keywords, no parse), so
  a name used near the cursor can be found in a file no import names.
- `stats()` is what `distill.status` reports: files, definitions, memory, time to index.

Thread-safe: the background build, the engine worker and the event loop share one index.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Parser

from .languages import LanguageSpec, detect_language
from .outline import RepoDefinition, outline, package_name
from .positions import encode
from .workspace import WorkspaceFiles

logger = logging.getLogger(__name__)

DEFAULT_INDEX_MB = 64
_DEFINED = re.compile(
    rb"^(?:[ \t]*(?:export\s+)?(?:default\s+)?(?:pub(?:\([\w:]+\))?\s+)?(?:async\s+)?"
    rb"(?:def|class|function\*?|func(?:\s*\([^)]*\))?|fn|struct|enum|trait|interface)"
    rb"|(?:export\s+)?(?:pub\s+)?(?:type|const|let|var|static))\s+([A-Za-z_]\w*)", re.M)
"""A definition's name: functions, classes and the like at any indentation (methods too);
constants, variables and types only at the top level (not a function's locals)."""
_NAME_COST = 250
"""Bytes one (name, file) entry of the name map holds: tracemalloc counted 190-255 over whole
builds (Go's source tree, the Python standard library; bench/repo.py)."""


@dataclass(frozen=True)
class FileOutline:
    path: Path
    mtime_ns: int
    size: int
    language: str
    package: str
    definitions: tuple[RepoDefinition, ...]
    nbytes: int


@dataclass(frozen=True)
class IndexStats:
    """The index as `distill.status` reports it, read at one moment (`RepoIndex.stats`)."""

    state: str
    """idle, indexing, ready, off."""
    files: int
    """Files listed and scanned for names by the last build."""
    names: int
    """Distinct names in the name map."""
    definitions: int
    """Definitions found by the scan ((name, file) pairs)."""
    outlines: int
    """Files parsed into outlines and held (the parse cache)."""
    memory_bytes: int
    """What the outlines and the name map hold (estimated)."""
    index_seconds: float
    """How long the last build took."""
    skipped: int
    """Files left out of the last build (too large, unreadable, or the memory cap reached)."""
    evictions: int
    """Outlines dropped to stay within the memory cap, since the index was made."""
    limit_bytes: int
    """The memory cap in force."""

    def as_dict(self) -> dict[str, object]:
        return {"state": self.state, "files": self.files, "names": self.names, "definitions": self.definitions,
                "outlines": self.outlines, "memoryMiB": round(self.memory_bytes / 2**20, 2),
                "limitMiB": round(self.limit_bytes / 2**20, 1), "indexSeconds": round(self.index_seconds, 2),
                "skipped": self.skipped, "evictions": self.evictions}


class RepoIndex:
    """Outlines and defined names of one session's workspace files."""

    def __init__(self, files: WorkspaceFiles, max_bytes: int = DEFAULT_INDEX_MB * 2**20) -> None:
        self.files = files
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._outlines: OrderedDict[Path, FileOutline] = OrderedDict()
        self._outline_bytes = 0
        self._names: dict[str, set[Path]] = {}
        self._names_of: dict[Path, tuple[str, ...]] = {}
        self._name_entries = 0
        self._local = threading.local()
        self._state = "idle"
        self._listed = self._skipped = self._evictions = 0
        self._index_seconds = 0.0
        self._generation = 0

    # -- outlines ----------------------------------------------------------------------
    def outline(self, path: Path) -> FileOutline | None:
        """The outline of a workspace file, parsed at most once per (mtime, size)."""
        found = self.files.stat(path)
        if found is None:
            return None
        real, mtime, size = found
        with self._lock:
            cached = self._outlines.get(real)
            if cached is not None and (cached.mtime_ns, cached.size) == (mtime, size):
                self._outlines.move_to_end(real)
                return cached
        lang = detect_language(None, str(real))
        text = self.files.read_text(real)
        if lang is None or text is None:
            return None
        made = self.outline_text(real, text, lang, mtime, size)
        self._store(made)
        return made

    def outline_text(self, path: Path, text: str, lang: LanguageSpec, mtime: int = -1, size: int = -1) -> FileOutline:
        """The outline of `text` (an open document's, which wins over its file; not cached here)."""
        data = encode(text)
        tree = self._parser(lang).parse(data)
        defs = tuple(outline(tree, data, lang))
        nbytes = sum(d.nbytes() for d in defs) + 400
        return FileOutline(path, mtime, size, lang.name, package_name(tree, data, lang), defs, nbytes)

    def _parser(self, lang: LanguageSpec) -> Parser:
        parsers = self._local.__dict__.setdefault("parsers", {})
        if lang.name not in parsers:
            parsers[lang.name] = lang.parser()
        return parsers[lang.name]

    def _store(self, made: FileOutline) -> None:
        with self._lock:
            old = self._outlines.pop(made.path, None)
            if old is not None:
                self._outline_bytes -= old.nbytes
            self._outlines[made.path] = made
            self._outline_bytes += made.nbytes
            while self._outline_bytes + self._names_bytes() > self.max_bytes and len(self._outlines) > 1:
                _, gone = self._outlines.popitem(last=False)
                self._outline_bytes -= gone.nbytes
                self._evictions += 1

    def invalidate(self, path: str | Path) -> None:
        """Forget what is known of `path` (changed, created or deleted on disk); a file is
        scanned again for names at once, parsed again when next needed."""
        real = Path(path)
        self.files.forget(path)
        with self._lock:
            for key in [k for k in self._outlines if k == real or str(k) == str(path)]:
                self._outline_bytes -= self._outlines.pop(key).nbytes
        resolved = self.files.resolve(path)
        self._forget_names(resolved or real)
        if resolved is not None:
            self._scan(resolved)

    # -- names ---------------------------------------------------------------------------
    def _names_bytes(self) -> int:
        return self._name_entries * _NAME_COST

    def _forget_names(self, path: Path) -> None:
        with self._lock:
            gone = self._names_of.pop(path, ())
            self._name_entries -= len(gone)
            for name in gone:
                holders = self._names.get(name)
                if holders is not None:
                    holders.discard(path)
                    if not holders:
                        del self._names[name]

    def _scan(self, path: Path, listed: bool = False) -> bool:
        text = self.files.read_listed(path) if listed else self.files.read_text(path)
        if text is None:
            return False
        names = tuple(dict.fromkeys(sys.intern(m.decode()) for m in _DEFINED.findall(text.encode())))
        with self._lock:
            if (self._name_entries + len(names)) * _NAME_COST > self.max_bytes // 2:
                return False  # the name map may take at most half the index's memory
            self._names_of[path] = names
            self._name_entries += len(names)
            for name in names:
                self._names.setdefault(name, set()).add(path)
        return True

    def files_defining(self, name: str) -> list[Path]:
        with self._lock:
            return sorted(self._names.get(name, ()))

    # -- the background build --------------------------------------------------------------
    def build(self, cancel: threading.Event | None = None) -> IndexStats:
        """List and scan the whole workspace (run it off the event loop); a later build
        (folders changed) supersedes an earlier one still running."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._names.clear()
            self._names_of.clear()
            self._name_entries = 0
            self._state = "indexing"
        started = time.perf_counter()
        listed = skipped = 0
        for path in self.files.source_files():
            if (cancel is not None and cancel.is_set()) or generation != self._generation:
                logger.info("index build stopped after %d files", listed)
                return self.stats()
            listed += 1
            skipped += not self._scan(path, listed=True)
        with self._lock:
            self._state, self._listed, self._skipped = "ready", listed, skipped
            self._index_seconds = time.perf_counter() - started
        logger.info("indexed %d files in %.2f s", listed, self._index_seconds)
        return self.stats()

    def stats(self) -> IndexStats:
        with self._lock:
            return IndexStats(state=self._state, files=self._listed, names=len(self._names),
                              definitions=self._name_entries, outlines=len(self._outlines),
                              memory_bytes=self._outline_bytes + self._names_bytes(),
                              index_seconds=self._index_seconds, skipped=self._skipped,
                              evictions=self._evictions, limit_bytes=self.max_bytes)
