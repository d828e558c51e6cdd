"""The workspace reader on real files in temporary folders: what it lists and reads, what it
never touches (outside the folders, through symlinks, ignored, hidden, too large), and the
index built from it (parse cache by mtime, invalidation, memory cap)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from distill_lsp.context.gitignore import IgnoreRules
from distill_lsp.context.languages import detect_language
from distill_lsp.context.recent_edits import RecentEdits
from distill_lsp.context.repo_context import WorkspaceContext
from distill_lsp.context.repo_index import RepoIndex
from distill_lsp.context.repo_session import RepoSession
from distill_lsp.context.workspace import WorkspaceFiles, WorkspaceLimits

SECRET = "def leaked_secret_function(token): ..."


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A workspace `ws` beside an `outside` folder it links to in every way it can."""
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    write(outside / "secret.py", SECRET + "\n")
    write(outside / "pkg" / "mod.py", SECRET + "\n")
    write(ws / "app" / "__init__.py", "")
    write(ws / "app" / "util.py", "def helper(x):\n    return x + 1\n")
    write(ws / "main.py", "from app.util import helper\nfrom .. import secret\nimport secret\n\nhelper(1)\n")
    write(ws / ".gitignore", "build/\n*.gen.py\n!keep.gen.py\n")
    write(ws / "build" / "out.py", "def built(): ...\n")
    write(ws / "x.gen.py", "def generated(): ...\n")
    write(ws / "keep.gen.py", "def kept(): ...\n")
    write(ws / ".hidden" / "h.py", "def hidden(): ...\n")
    write(ws / "node_modules" / "dep" / "index.js", "export function dep() {}\n")
    write(ws / "big.py", "x = 1\n" * 50_000)
    (ws / "link_file.py").symlink_to(outside / "secret.py")
    (ws / "link_dir").symlink_to(outside / "pkg", target_is_directory=True)
    (ws / "secret.py").symlink_to(outside / "secret.py")
    return ws, outside


def reader(ws: Path, **limits: int) -> WorkspaceFiles:
    files = WorkspaceFiles(WorkspaceLimits(**limits)) if limits else WorkspaceFiles()
    files.set_roots([ws])
    return files


def test_lists_sources_but_nothing_ignored_hidden_or_linked_out(layout) -> None:
    ws, _ = layout
    listed = {p.relative_to(ws).as_posix() for p in reader(ws, max_file_bytes=100_000).source_files()}
    assert listed == {"app/__init__.py", "app/util.py", "main.py", "keep.gen.py"}


def test_reads_only_inside_the_folders(layout) -> None:
    ws, outside = layout
    files = reader(ws)
    assert files.read_text(ws / "app" / "util.py") == "def helper(x):\n    return x + 1\n"
    for path in (outside / "secret.py", ws / "link_file.py", ws / "secret.py", ws / "link_dir" / "mod.py",
                 ws / ".." / "outside" / "secret.py", ws / "build" / "out.py", ws / ".hidden" / "h.py",
                 ws / "x.gen.py"):
        assert files.read_text(path) is None, path
    assert files.read_text(ws / "keep.gen.py") == "def kept(): ...\n"


def test_file_size_cap(layout) -> None:
    ws, _ = layout
    assert reader(ws, max_file_bytes=1000).read_text(ws / "big.py") is None
    assert reader(ws, max_file_bytes=1_000_000).read_text(ws / "big.py") is not None


def test_file_count_cap(tmp_path: Path) -> None:
    for i in range(30):
        write(tmp_path / f"m{i:02d}.py", f"def f{i}(): ...\n")
    assert len(list(reader(tmp_path, max_files=10).source_files())) == 10


class Opened:
    """Every file the process opens or lists while active (a real audit hook)."""

    hook_installed = False
    active: list[Opened] = []

    def __init__(self) -> None:
        self.paths: list[str] = []
        if not Opened.hook_installed:
            sys.addaudithook(Opened._hook)
            Opened.hook_installed = True

    @staticmethod
    def _hook(event: str, args: tuple) -> None:
        if event in ("open", "os.listdir", "os.scandir") and Opened.active and args and isinstance(args[0], (str, Path)):
            Opened.active[-1].paths.append(os.path.realpath(args[0]))

    def __enter__(self) -> Opened:
        Opened.active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        Opened.active.remove(self)


def test_no_file_outside_the_workspace_is_ever_read(layout) -> None:
    ws, outside = layout
    session = RepoSession()
    lang = detect_language("python", None)
    assert lang is not None
    lang.language  # the grammar is loaded before watching (it is a library, not a workspace file)
    text = (ws / "main.py").read_text()
    tree = lang.parser().parse(text.encode())
    with Opened() as opened:
        session.set_folders([ws])
        thread = session.start_indexing()
        assert thread is not None
        thread.join()
        snippets = session.context.snippets(str(ws / "main.py"), text, tree, lang,
                                            ["helper", "secret", "leaked_secret_function", "mod"], {})
        session.files_changed([str(ws / "link_file.py"), str(outside / "secret.py")])
        time.sleep(0.2)
    assert any("def helper" in s.text for s in snippets)
    assert not any("leaked_secret" in s.text for s in snippets)
    assert opened.paths, "the hook saw nothing: it would not see a read outside either"
    assert all(p == str(ws) or p.startswith(str(ws) + os.sep) for p in opened.paths), \
        [p for p in opened.paths if not p.startswith(str(ws))]


@pytest.mark.parametrize(("rules", "path", "is_dir", "expected"), [
    ("*.log", "a/b/x.log", False, True),
    ("/top.py", "top.py", False, True),
    ("/top.py", "sub/top.py", False, None),
    ("build/", "build", True, True),
    ("build/", "build", False, None),
    ("docs/**/*.md", "docs/a/b/c.md", False, True),
    ("**/gen", "x/y/gen", True, True),
    ("*.py\n!keep.py", "keep.py", False, False),
    ("# comment\n\n", "x.py", False, None),
    ("a?c.py", "abc.py", False, True),
    ("[ab].py", "c.py", False, None),
])
def test_gitignore_rules(rules: str, path: str, is_dir: bool, expected: bool | None) -> None:
    assert IgnoreRules.parse(rules).match(path, is_dir) is expected


def test_nested_gitignore_applies_below_its_folder(tmp_path: Path) -> None:
    write(tmp_path / "a" / ".gitignore", "skip.py\n")
    write(tmp_path / "a" / "skip.py", "x = 1\n")
    write(tmp_path / "skip.py", "x = 1\n")
    files = reader(tmp_path)
    assert files.read_text(tmp_path / "a" / "skip.py") is None
    assert files.read_text(tmp_path / "skip.py") == "x = 1\n"
    assert {p.name for p in files.source_files()} == {"skip.py"}


def test_folders_follow_changes(tmp_path: Path) -> None:
    one, two = write(tmp_path / "one" / "a.py", "def a(): ...\n"), write(tmp_path / "two" / "b.py", "def b(): ...\n")
    session = RepoSession()
    session.set_folders([one.parent])
    assert session.files.read_text(two) is None
    session.change_folders([str(two.parent)], [str(one.parent)])
    assert session.files.read_text(two) == "def b(): ...\n"
    assert session.files.read_text(one) is None


def test_parse_cache_by_mtime_and_invalidation(tmp_path: Path) -> None:
    path = write(tmp_path / "m.py", "def first(a): ...\n")
    index = RepoIndex(reader(tmp_path))
    outline = index.outline(path)
    assert outline is not None and [d.name for d in outline.definitions] == ["first"]
    assert index.outline(path) is outline  # cached: not parsed again
    path.write_text("def second(b, c): ...\n")
    os.utime(path, ns=(outline.mtime_ns + 10**9, outline.mtime_ns + 10**9))
    assert [d.name for d in index.outline(path).definitions] == ["second"]
    index.build()
    assert index.files_defining("second") == [path]
    path.write_text("def third(): ...\n")
    index.invalidate(str(path))
    assert index.files_defining("second") == [] and index.files_defining("third") == [path]


def test_index_memory_is_bounded(tmp_path: Path) -> None:
    paths = [write(tmp_path / f"m{i}.py", "".join(f"def f{i}_{j}(a, b):\n    return a + b\n" for j in range(40)))
             for i in range(20)]
    index = RepoIndex(reader(tmp_path), max_bytes=60_000)
    for path in paths:
        index.outline(path)
    stats = index.stats()
    assert stats.memory_bytes <= 60_000
    assert stats.evictions > 0 and 0 < stats.outlines < 20


def test_status_reports_the_memory_cap_in_force() -> None:
    session = RepoSession()
    session.configure(True, max_files=100, max_file_kb=10, index_mb=128)
    assert session.status()["limitMiB"] == 128.0


def test_open_document_wins_over_its_file(tmp_path: Path) -> None:
    write(tmp_path / "lib.py", "def on_disk(x): ...\n")
    main = write(tmp_path / "main.py", "from lib import edited_in_editor, on_disk\n\n")
    lang = detect_language("python", None)
    assert lang is not None
    text = main.read_text()
    context = WorkspaceContext(RepoIndex(reader(tmp_path)))
    tree = lang.parser().parse(text.encode())
    names = ["edited_in_editor", "on_disk"]
    assert [s.text for s in context.snippets(str(main), text, tree, lang, names, {})] == ["def on_disk(x): ..."]
    opened = {str(tmp_path / "lib.py"): "def edited_in_editor(y): ...\n"}
    assert [s.text for s in context.snippets(str(main), text, tree, lang, names, opened)] == \
        ["def edited_in_editor(y): ..."]


def test_recent_edits_ring() -> None:
    ring = RecentEdits(max_chunks=3)
    text = "\n".join(f"line {i}" for i in range(100))
    ring.record("/a.py", text, 10)
    ring.record("/a.py", text, 12)  # next to the first: replaces it
    assert len(ring) == 1 and "line 12" in ring.chunks()[0].text
    for path in ("/b.py", "/c.py", "/d.py"):
        ring.record(path, text, 50)
    assert [c.path for c in ring.chunks()] == ["/d.py", "/c.py", "/b.py"]  # bounded, newest first
    assert [c.path for c in ring.chunks(exclude="/c.py")] == ["/d.py", "/b.py"]
