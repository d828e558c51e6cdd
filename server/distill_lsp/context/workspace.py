"""The workspace on disk: its folders, which of their files may be read, and reading them.

Safety rules, enforced here and nowhere else (every read of a workspace file goes through
`WorkspaceFiles.read_text`):

- only files inside a workspace folder are read: a path is resolved (`os.path.realpath`,
  every symlink followed) and must still lie inside the resolved folder, so neither `..`
  nor a symlink leads out;
- the walk never descends into a symlinked directory, a hidden one (`.git`, `.venv`, ...)
  or one `.gitignore` (or `DEFAULT_IGNORED`) excludes, and never lists more than
  `max_files` files;
- a file larger than `max_file_bytes` is not read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .gitignore import IgnoreRules
from .languages import detect_language

logger = logging.getLogger(__name__)

RESOLVE_TTL_S = 2.0
DEFAULT_IGNORED = ("node_modules", "__pycache__")
"""Directories skipped even without a .gitignore saying so (dependencies, byte code)."""


@dataclass(frozen=True)
class WorkspaceLimits:
    """Caps on what the workspace reader takes from disk."""

    max_file_bytes: int = 200 * 1024
    """Files larger than this are neither indexed nor read."""
    max_files: int = 20_000
    """The background index lists at most this many source files."""


class WorkspaceFiles:
    """The workspace folders of one session and safe access to their files. Thread-safe."""

    def __init__(self, limits: WorkspaceLimits = WorkspaceLimits()) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._roots: tuple[Path, ...] = ()
        self._rules: dict[Path, IgnoreRules] = {}
        self._resolved: dict[str, tuple[float, Path | None]] = {}

    # -- folders ------------------------------------------------------------------------
    @property
    def roots(self) -> tuple[Path, ...]:
        """The workspace folders, resolved, in the order they were added."""
        with self._lock:
            return self._roots

    def set_roots(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        resolved = []
        for path in paths:
            real = Path(os.path.realpath(path))
            if real.is_dir() and real not in resolved:
                resolved.append(real)
        with self._lock:
            self._roots = tuple(resolved)
            self._rules = {}
            self._resolved = {}
        logger.info("workspace folders: %s", ", ".join(map(str, resolved)) or "(none)")

    def add_root(self, path: str | os.PathLike[str]) -> None:
        self.set_roots([*self.roots, path])

    def remove_root(self, path: str | os.PathLike[str]) -> None:
        gone = Path(os.path.realpath(path))
        self.set_roots([r for r in self.roots if r != gone])

    # -- safety -------------------------------------------------------------------------
    def root_of(self, path: str | os.PathLike[str]) -> Path | None:
        """The workspace folder holding `path` once every symlink in it is resolved, else None."""
        real = os.path.realpath(path)
        for root in self.roots:
            if real == str(root) or real.startswith(str(root) + os.sep):
                return root
        return None

    def resolve(self, path: str | os.PathLike[str]) -> Path | None:
        """`path` resolved, when it is a readable file of the workspace that is not ignored
        (remembered for `RESOLVE_TTL_S`: completions ask about the same imports at every keystroke)."""
        key = os.fspath(path)
        now = time.monotonic()
        with self._lock:
            hit = self._resolved.get(key)
        if hit is not None and now - hit[0] < RESOLVE_TTL_S:
            return hit[1]
        found = self._resolve(path)
        with self._lock:
            if len(self._resolved) > 4096:
                self._resolved.clear()
            self._resolved[key] = (now, found)
        return found

    def forget(self, path: str | os.PathLike[str]) -> None:
        """Drop what `resolve` remembers of `path` (it changed on disk)."""
        with self._lock:
            self._resolved.pop(os.fspath(path), None)

    def _resolve(self, path: str | os.PathLike[str]) -> Path | None:
        real = Path(os.path.realpath(path))
        root = self.root_of(real)
        if root is None or not real.is_file():
            return None
        if self.ignored(real, root):
            return None
        return real

    def ignored(self, path: Path, root: Path) -> bool:
        """Hidden, in a default-ignored directory, or excluded (itself or a folder above it)
        by the .gitignore files from `root` down."""
        parts = path.relative_to(root).parts
        if any(p.startswith(".") or p in DEFAULT_IGNORED for p in parts):
            return True
        rules = tuple(self._rules_for(root.joinpath(*parts[:k])) for k in range(len(parts)))
        return any(_excluded(rules[:i], parts[:i], i < len(parts)) for i in range(1, len(parts) + 1))

    def _rules_for(self, folder: Path) -> IgnoreRules:
        with self._lock:
            rules = self._rules.get(folder)
        if rules is None:
            rules = IgnoreRules.load(folder / ".gitignore")
            with self._lock:
                self._rules[folder] = rules
        return rules

    # -- reading ------------------------------------------------------------------------
    def read_text(self, path: str | os.PathLike[str]) -> str | None:
        """The text of a workspace file; None outside the workspace, ignored, too large,
        unreadable or not UTF-8."""
        real = self.resolve(path)
        return self._read(real) if real is not None else None

    def read_listed(self, path: Path) -> str | None:
        """`read_text` for a path `source_files` listed (it checked the path already)."""
        return self._read(path)

    def _read(self, real: Path) -> str | None:
        try:
            if real.stat().st_size > self.limits.max_file_bytes:
                return None
            with open(real, "rb") as f:  # the resolved path: no symlink left to follow
                data = f.read(self.limits.max_file_bytes + 1)
        except OSError:
            return None
        if len(data) > self.limits.max_file_bytes:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def stat(self, path: str | os.PathLike[str]) -> tuple[Path, int, int] | None:
        """(resolved path, mtime in ns, size) of a workspace file that may be read."""
        real = self.resolve(path)
        if real is None:
            return None
        try:
            st = real.stat()
        except OSError:
            return None
        if st.st_size > self.limits.max_file_bytes:
            return None
        return real, st.st_mtime_ns, st.st_size

    # -- walking ------------------------------------------------------------------------
    def source_files(self) -> Iterator[Path]:
        """Source files of a known language and at most `max_file_bytes` in every folder,
        breadth first, at most `max_files`; no symlinked, hidden or ignored directory is entered."""
        listed = 0
        for root in self.roots:
            for path in self._walk(root):
                if listed >= self.limits.max_files:
                    logger.info("workspace: stopped listing at %d files (maxFiles)", listed)
                    return
                listed += 1
                yield path

    def _walk(self, root: Path) -> Iterator[Path]:
        queue: list[tuple[Path, tuple[IgnoreRules, ...], tuple[str, ...]]] = [(root, (), ())]
        while queue:
            folder, inherited, rel = queue.pop(0)
            rules = (*inherited, self._rules_for(folder))
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                if name.startswith(".") or entry.is_symlink() and entry.is_dir():
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
                parts = (*rel, name)
                if _excluded(rules, parts, is_dir):
                    continue
                if is_dir:
                    if name not in DEFAULT_IGNORED:
                        queue.append((Path(entry.path), rules, parts))
                elif (detect_language(None, name) is not None and self._inside(entry.path, root)
                      and entry.stat().st_size <= self.limits.max_file_bytes):
                    yield Path(os.path.realpath(entry.path)) if entry.is_symlink() else Path(entry.path)

    def _inside(self, path: str, root: Path) -> bool:
        real = os.path.realpath(path)  # a symlinked file must point inside its folder
        return real.startswith(str(root) + os.sep)


def _excluded(rules: tuple[IgnoreRules, ...], parts: tuple[str, ...], is_dir: bool) -> bool:
    """Whether the .gitignore files from the root down to the entry's folder exclude it:
    rules[k] sits k folders below the root and sees the path from there."""
    verdict = False
    for depth, rule in enumerate(rules):
        found = rule.match("/".join(parts[depth:]), is_dir)
        if found is not None:
            verdict = found
    return verdict
