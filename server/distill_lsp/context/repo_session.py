"""One session's repository context, LSP-free: its workspace folders, the index built in
the background, the recent-edits ring, and what a completion request takes from them.

The protocol layer (`features/workspace.py`) tells it the folders, the files changed on
disk and the edits; the server's `snapshot` asks it for a `RepoRequest` per completion.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tree_sitter import Tree

from .languages import LanguageSpec
from .recent_edits import RecentEdits
from .repo_context import RepoSnippet, WorkspaceContext, pack
from .repo_index import IndexStats, RepoIndex
from .workspace import WorkspaceFiles, WorkspaceLimits

logger = logging.getLogger(__name__)

CountTokens = Callable[[str], int]
Piece = tuple[str, str, int]
"""(source, text, line) of a piece of context from another file."""


@dataclass(frozen=True)
class RepoRequest:
    """What one completion may use of the workspace (a snapshot: the open documents'
    texts as they were when the request came)."""

    context: WorkspaceContext | None
    path: str
    open_docs: Mapping[str, str] = field(default_factory=dict)
    """Resolved path -> text of the other open documents (they win over their files)."""
    recent: tuple[Piece, ...] = ()
    """Recently edited chunks of other documents, newest first."""
    display_path: str = ""
    """The document's path relative to its workspace folder (how the prompt names it)."""
    repo_name: str = ""

    def pieces_for(self, text: str, tree: Tree | None, lang: LanguageSpec | None
                   ) -> Callable[[Sequence[str], int, CountTokens, Callable[[str], str]], list[Piece]] | None:
        """The builder's callback: given the names near the cursor, a token limit, the
        token counter and the heading of a file, the workspace pieces that fit."""
        if self.context is None:
            return None
        context = self.context

        def pieces(names: Sequence[str], limit: int, count: CountTokens, heading: Callable[[str], str]) -> list[Piece]:
            if limit <= 0:
                return []
            found: list[RepoSnippet] = context.snippets(self.path, text, tree, lang, names, self.open_docs)
            return [(s.source, s.text if s.text.endswith("\n") else s.text + "\n", s.line)
                    for s in pack(found, limit, count, heading)]

        return pieces


class RepoSession:
    """The workspace of one LSP session. Thread-safe."""

    def __init__(self) -> None:
        self.files = WorkspaceFiles()
        self.index = RepoIndex(self.files)
        self.context = WorkspaceContext(self.index)
        self.recent_edits = RecentEdits()
        self.enabled = True
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    def configure(self, enabled: bool, max_files: int, max_file_kb: int, index_mb: int) -> bool:
        """Apply the settings; True when the index must be built again."""
        limits = WorkspaceLimits(max_file_bytes=max_file_kb * 1024, max_files=max_files)
        changed = (limits != self.files.limits or index_mb * 2**20 != self.index.max_bytes
                   or enabled != self.enabled)
        self.files.limits = limits
        self.index.max_bytes = index_mb * 2**20
        self.enabled = enabled
        return changed

    def set_folders(self, paths: Sequence[str]) -> None:
        self.files.set_roots(paths)

    def change_folders(self, added: Sequence[str], removed: Sequence[str]) -> None:
        roots = [r for r in self.files.roots if str(r) not in {os.path.realpath(p) for p in removed}]
        self.files.set_roots([*roots, *added])

    def start_indexing(self) -> threading.Thread | None:
        """Build the index on a thread of its own (a running build is superseded)."""
        self._cancel.set()
        if not self.enabled or not self.files.roots:
            return None
        self._cancel = threading.Event()
        thread = threading.Thread(target=self.index.build, args=(self._cancel,), name="distill-index", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def stop(self) -> None:
        self._cancel.set()

    def files_changed(self, paths: Sequence[str]) -> None:
        """`workspace/didChangeWatchedFiles`: created, changed or deleted files (re-scanned
        on a thread of their own)."""
        def work() -> None:
            for path in paths:
                self.index.invalidate(path)

        threading.Thread(target=work, name="distill-index-update", daemon=True).start()

    def edited(self, path: str, text: str, line: int) -> None:
        self.recent_edits.record(path, text, line)

    def request(self, path: str, others: Sequence[tuple[str, str]]) -> RepoRequest:
        """What a completion in `path` may use; `others` are (path, text) of the other open documents."""
        if not self.enabled:
            return RepoRequest(None, path)
        recent = tuple((self._display(c.path), c.text, c.start) for c in self.recent_edits.chunks(exclude=path))
        root = self.files.root_of(path) if path else None
        open_docs = {os.path.realpath(p): t for p, t in others if p}
        return RepoRequest(self.context if root is not None else None, path, open_docs, recent,
                           self._display(path), root.name if root is not None else "")

    def _display(self, path: str) -> str:
        root = self.files.root_of(path) if path else None
        return Path(os.path.realpath(path)).relative_to(root).as_posix() if root is not None else path

    def status(self) -> dict[str, Any]:
        stats: IndexStats = self.index.stats()
        out = stats.as_dict()
        if not self.enabled:
            out["state"] = "off"
        out["folders"] = [str(r) for r in self.files.roots]
        out["recentEdits"] = len(self.recent_edits)
        out["maxFiles"] = self.files.limits.max_files
        out["maxFileKB"] = self.files.limits.max_file_bytes // 1024
        return out
