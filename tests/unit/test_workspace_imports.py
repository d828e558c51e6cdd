"""Import resolution and file outlines, per language, on real files parsed with the real
tree-sitter grammars; then the whole chain into a prompt (`build_context`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill_lsp.context.builder import build_context
from distill_lsp.context.languages import detect_language
from distill_lsp.context.outline import outline
from distill_lsp.context.repo_session import RepoSession


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def resolved(root: Path, files: dict[str, str], current: str) -> set[str]:
    """The files `current`'s imports resolve to, relative to `root`."""
    write(root, files)
    session = RepoSession()
    session.set_folders([root])
    path = root / current
    lang = detect_language(None, current)
    assert lang is not None
    text = path.read_text()
    tree = lang.parser().parse(text.encode())
    from distill_lsp.context.repo_context import targets_for

    ctx = session.context
    found = targets_for(path, text, tree, lang, session.files.roots, ctx._exists, ctx._listdir,
                        session.files.read_text, "com.acme.app" if lang.name == "java" else "")
    return {t.path.relative_to(root).as_posix() for t in found}


CASES = {
    "python": ({
        "proj/pkg/__init__.py": "", "proj/pkg/core.py": "X = 1\n", "proj/pkg/sub/__init__.py": "",
        "proj/pkg/sub/leaf.py": "from ..core import X\nfrom . import sibling\nfrom pkg.helpers import tool\n"
                                "import pkg.core\n",
        "proj/pkg/sub/sibling.py": "", "proj/pkg/helpers/__init__.py": "", "proj/pkg/helpers/tool.py": "",
    }, "proj/pkg/sub/leaf.py",
        {"proj/pkg/core.py", "proj/pkg/sub/__init__.py", "proj/pkg/sub/sibling.py", "proj/pkg/helpers/__init__.py",
         "proj/pkg/helpers/tool.py"}),
    "javascript": ({
        "src/a.js": "import { b } from './b';\nimport c from '../lib/c.js';\nconst d = require('./d');\n"
                    "export * from './e';\nimport React from 'react';\n",
        "src/b.ts": "", "lib/c.ts": "", "src/d/index.js": "", "src/e.mjs": "",
    }, "src/a.js", {"src/b.ts", "lib/c.ts", "src/d/index.js", "src/e.mjs"}),
    "go": ({
        "go.mod": "module example.com/app\n\ngo 1.21\n",
        "cmd/main.go": 'package main\n\nimport (\n\t"fmt"\n\t"example.com/app/store"\n)\n',
        "cmd/flags.go": "package main\n", "cmd/main_test.go": "package main\n",
        "store/store.go": "package store\n", "store/cache.go": "package store\n",
    }, "cmd/main.go", {"cmd/flags.go", "store/store.go", "store/cache.go"}),
    "rust": ({
        "src/lib.rs": "mod parser;\nmod util;\n", "src/parser.rs": "use crate::util::strings::trim;\nmod lexer;\n",
        "src/parser/lexer.rs": "", "src/util/mod.rs": "", "src/util/strings.rs": "",
    }, "src/parser.rs", {"src/util/strings.rs", "src/parser/lexer.rs"}),
    "c": ({
        "src/main.c": '#include <stdio.h>\n#include "util.h"\n#include "common/types.h"\n',
        "src/util.h": "", "include/common/types.h": "",
    }, "src/main.c", {"src/util.h", "include/common/types.h"}),
    "java": ({
        "src/com/acme/app/Main.java": "package com.acme.app;\n\nimport com.acme.model.User;\nimport java.util.List;\n",
        "src/com/acme/app/Helper.java": "package com.acme.app;\n",
        "src/com/acme/model/User.java": "package com.acme.model;\n",
    }, "src/com/acme/app/Main.java", {"src/com/acme/app/Helper.java", "src/com/acme/model/User.java"}),
}


@pytest.mark.parametrize("language", list(CASES))
def test_imports_resolve_to_workspace_files(tmp_path: Path, language: str) -> None:
    files, current, expected = CASES[language]
    assert resolved(tmp_path, files, current) == expected


def test_relative_import_above_the_folder_stays_out(tmp_path: Path) -> None:
    (tmp_path / "outside.py").write_text("def secret(): ...\n")
    assert resolved(tmp_path / "ws", {"pkg/__init__.py": "", "pkg/m.py": "from ... import outside\n"},
                    "pkg/m.py") == set()


def names(text: str, language: str) -> list[tuple[str, str, str, bool]]:
    lang = detect_language(language, None)
    assert lang is not None
    data = text.encode()
    return [(d.name, d.kind, d.parent, d.exported) for d in outline(lang.parser().parse(data), data, lang)]


LONG_CLASS = ("class Store:\n    limit = 10\n\n    def __init__(self, path):\n        self.path = path\n"
              "        self._items = {}\n\n" + "".join(f"    def op{i}(self, key):\n        a = key\n        b = a\n"
                                                      f"        c = b\n        return c\n\n" for i in range(3))
              + "    def _hidden(self):\n        return 1\n\n\ndef _private(x): ...\n")


def test_outline_of_a_long_python_class() -> None:
    assert names(LONG_CLASS, "python") == [
        ("Store", "class", "", True), ("__init__", "member", "Store", True), ("op0", "member", "Store", True),
        ("op1", "member", "Store", True), ("op2", "member", "Store", True), ("_hidden", "member", "Store", False),
        ("_private", "callable", "", False)]
    lang = detect_language("python", None)
    assert lang is not None
    data = LONG_CLASS.encode()
    store, *members = outline(lang.parser().parse(data), data, lang)
    assert store.text == ("class Store:\n    limit = 10\n    def __init__(self, path):\n        self.path = path\n"
                          "        self._items = {}")
    assert members[1].text == "    def op0(self, key): ..."  # long body elided, indented under its class
    assert members[-2].text == "    def _hidden(self):\n        return 1"  # short body whole


@pytest.mark.parametrize(("language", "text", "expected"), [
    ("go", "package p\n\ntype Point struct {\n\tX, Y int\n}\n\nfunc New() *Point { return nil }\n\nfunc helper() {}\n",
     [("Point", "class", "", True), ("New", "callable", "", True), ("helper", "callable", "", False)]),
    ("typescript", "export interface Shape { area(): number }\nexport function make(): Shape { return null! }\n"
                   "function local() {}\nexport default local;\n",
     [("Shape", "class", "", True), ("make", "callable", "", True), ("local", "callable", "", True)]),
    ("rust", "pub struct Token { pub kind: u8 }\nfn private() {}\npub fn public() {}\n",
     [("Token", "class", "", True), ("private", "callable", "", False), ("public", "callable", "", True)]),
])
def test_outline_exports(language: str, text: str, expected: list) -> None:
    assert names(text, language) == expected


def test_the_prompt_gets_the_imported_definitions_used_near_the_cursor(tmp_path: Path) -> None:
    write(tmp_path, {
        "geometry/__init__.py": "",
        "geometry/shapes.py": LONG_CLASS.replace("Store", "Circle") + "\ndef unrelated_function(z):\n    return z\n",
        "app.py": "from geometry.shapes import Circle\n\n\ndef run(c: Circle):\n    value = c.op1(3)\n    return ",
    })
    session = RepoSession()
    session.set_folders([tmp_path])
    text = (tmp_path / "app.py").read_text()
    lang = detect_language("python", None)
    assert lang is not None
    tree = lang.parser().parse(text.encode())
    request = session.request(str(tmp_path / "app.py"), [])

    def count(s: str) -> int:
        return len(s.split()) + s.count("\n")

    ctx = build_context(text, len(text), lang, tree, [], count, 400, workspace=request.pieces_for(text, tree, lang),
                        path=request.display_path, repo_name=request.repo_name)
    assert ctx.header.startswith("# geometry/shapes.py\nclass Circle:\n")
    assert "    def op1(self, key): ..." in ctx.header
    assert "unrelated_function" not in ctx.header and "op2" not in ctx.header
    assert ctx.files[0][0] == "geometry/shapes.py" and ctx.path == "app.py" and ctx.repo_name == tmp_path.name
    assert count(ctx.header + ctx.prefix) + count(ctx.suffix) <= 400
    off = build_context(text, len(text), lang, tree, [], count, 400, path=request.display_path)
    assert off.header == "" and off.files == ()
