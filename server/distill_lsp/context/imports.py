"""Which workspace files a document's imports name, read from its tree-sitter tree.

- Python: `import a.b`, `from a.b import c` (c may be a submodule), relative `from ..x
  import y`; a module is `x.py` or `x/__init__.py`, searched from the package root of the
  current file, the workspace folders and their `src/`.
- JavaScript / TypeScript: relative specifiers (`./x`, `../y/z`) of `import`, `export ...
  from` and `require()`, with the usual extensions and `index` files (`./x.js` also finds
  `x.ts`).
- Go: the other files of the package (the same directory), and imported packages under
  the module path of the nearest `go.mod` (the standard library's `module std` too).
- Rust: `mod x;` (`x.rs` or `x/mod.rs`), `use crate::`, `super::` and `self::` paths.
- C / C++: quoted `#include "x.h"`, next to the file, then from the folders and their `include/`.
- Java: the same package (directory), and `import a.b.C` / `a.b.*` under the source root.

Only candidate paths are produced here; `WorkspaceFiles` decides what may be read.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node, Tree

from .languages import LanguageSpec
from .syntax import node_str

logger = logging.getLogger(__name__)

MAX_IMPORTS = 64
MAX_PACKAGE_FILES = 40
_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".mjs", ".cjs", ".jsx")
_STRING = re.compile(r"""["'`]([^"'`]+)["'`]""")
PACKAGE_WEIGHT = 0.6
"""Files found as the same package (not named by an import) rank below imported ones."""


@dataclass(frozen=True)
class ImportTarget:
    """A workspace file an import names, and how strongly (1.0 imported, less for package siblings)."""

    path: Path
    weight: float = 1.0


Exists = Callable[[Path], bool]


def _text(node: Node, data: bytes) -> str:
    return node_str(data, node.start_byte, node.end_byte)


def _nodes(root: Node, types: frozenset[str], limit: int = MAX_IMPORTS, depth: int = 3) -> Iterator[Node]:
    """Nodes of `types` among the first levels of the tree (imports sit near the top)."""
    found, stack = 0, [(root, 0)]
    while stack and found < limit:
        node, level = stack.pop(0)
        for child in node.named_children:
            if child.type in types:
                found += 1
                yield child
            elif level < depth and child.named_child_count:
                stack.append((child, level + 1))


# -- Python ---------------------------------------------------------------------------------
def _python_roots(path: Path, roots: tuple[Path, ...]) -> list[Path]:
    """Where absolute imports start: above the file's top package, and the folders (and src/)."""
    top = path.parent
    while (top / "__init__.py").is_file() and top.parent != top and any(r in top.parents for r in roots):
        top = top.parent
    found = [top]
    for root in roots:
        found += [root, root / "src", root / "Lib"]
        if (root / "__init__.py").is_file():  # the folder is a package: `import <its name>.x` finds x in it
            found.append(root.parent)
    return list(dict.fromkeys(found))


def _python_module(base: Path, dotted: str, exists: Exists) -> Path | None:
    parts = [p for p in dotted.split(".") if p]
    target = base.joinpath(*parts) if parts else base
    for candidate in (target.with_suffix(".py") if parts else None, target / "__init__.py"):
        if candidate is not None and exists(candidate):
            return candidate
    return None


def python_imports(tree: Tree, data: bytes, path: Path, roots: tuple[Path, ...], exists: Exists) -> list[ImportTarget]:
    found: list[Path] = []
    starts = _python_roots(path, roots)
    for node in _nodes(tree.root_node, frozenset({"import_statement", "import_from_statement"})):
        text = " ".join(_text(node, data).replace("\\\n", " ").split())
        if node.type == "import_statement":
            for dotted in re.findall(r"([\w.]+)(?:\s+as\s+\w+)?", text[len("import"):]):
                found += _first(starts, dotted, exists)
            continue
        m = re.match(r"from\s+(\.*)([\w.]*)\s+import\s+\(?(.*?)\)?$", text)
        if m is None:
            continue
        dots, module, names = m.groups()
        bases = [path.parent.parents[len(dots) - 2] if len(dots) > 1 else path.parent] if dots else starts
        names_list = [n.split(" as ")[0].strip() for n in names.split(",") if n.strip() and n.strip() != "*"]
        for base in bases:
            hit = _python_module(base, module, exists)
            if hit is not None:
                found.append(hit)
            pkg = base.joinpath(*module.split(".")) if module else base
            found += [p for n in names_list if (p := _python_module(pkg, n, exists)) is not None]
            if hit is not None:
                break
    return [ImportTarget(p) for p in dict.fromkeys(found)]


def _first(starts: list[Path], dotted: str, exists: Exists) -> list[Path]:
    for base in starts:
        hit = _python_module(base, dotted, exists)
        if hit is not None:
            return [hit]
    return []


# -- JavaScript / TypeScript -----------------------------------------------------------------
def _js_candidates(target: Path) -> Iterator[Path]:
    yield target
    stem = target.name
    if target.suffix in (".js", ".mjs", ".cjs", ".jsx"):
        base = target.with_suffix("")
        yield from (base.with_name(base.name + ext) for ext in (".ts", ".tsx", ".mts", ".cts"))
    yield from (target.with_name(stem + ext) for ext in _JS_EXTENSIONS)
    yield from (target / f"index{ext}" for ext in _JS_EXTENSIONS)


def js_imports(tree: Tree, data: bytes, path: Path, exists: Exists) -> list[ImportTarget]:
    found: list[Path] = []
    kinds = frozenset({"import_statement", "export_statement", "call_expression", "lexical_declaration",
                       "variable_declaration", "expression_statement"})
    for node in _nodes(tree.root_node, kinds, limit=4 * MAX_IMPORTS, depth=1):
        text = _text(node, data)
        if node.type != "import_statement" and " from " not in text and "require(" not in text:
            continue
        for spec in _STRING.findall(text[:400]):
            if spec.startswith(("./", "../")):
                target = Path(os.path.normpath(path.parent / spec))
                hit = next((c for c in _js_candidates(target) if exists(c)), None)
                if hit is not None:
                    found.append(hit)
    return [ImportTarget(p) for p in dict.fromkeys(found)]


# -- Go -------------------------------------------------------------------------------------
def _go_module(path: Path, roots: tuple[Path, ...], read: Callable[[Path], str | None]) -> tuple[Path, str] | None:
    folder = path.parent
    while True:
        text = read(folder / "go.mod")
        if text is not None:
            m = re.search(r"^module\s+(\S+)", text, re.M)
            return (folder, m.group(1)) if m else None
        if folder in roots or folder.parent == folder:
            return None
        folder = folder.parent


def go_imports(tree: Tree, data: bytes, path: Path, roots: tuple[Path, ...], exists: Exists,
               listdir: Callable[[Path], list[Path]], read: Callable[[Path], str | None]) -> list[ImportTarget]:
    found = [ImportTarget(p, PACKAGE_WEIGHT) for p in _go_package(path.parent, listdir) if p != path]
    module = _go_module(path, roots, read)
    if module is None:
        return found
    base, name = module
    for node in _nodes(tree.root_node, frozenset({"import_spec"}), limit=MAX_IMPORTS, depth=3):
        spec = _STRING.findall(_text(node, data))
        if not spec:
            continue
        imported = spec[0]
        if imported == name or imported.startswith(name + "/"):
            folder = base / imported[len(name):].lstrip("/")
        elif name == "std" and "." not in imported.split("/")[0]:
            folder = base / imported
        else:
            continue
        found += [ImportTarget(p) for p in _go_package(folder, listdir)]
    return found


def _go_package(folder: Path, listdir: Callable[[Path], list[Path]]) -> list[Path]:
    files = [p for p in listdir(folder) if p.suffix == ".go" and not p.name.endswith("_test.go")]
    return sorted(files)[:MAX_PACKAGE_FILES]


# -- Rust -----------------------------------------------------------------------------------
def _rust_crate_root(path: Path, roots: tuple[Path, ...], exists: Exists) -> Path:
    folder = path.parent
    while folder not in roots and folder.parent != folder:
        if exists(folder / "lib.rs") or exists(folder / "main.rs"):
            return folder
        folder = folder.parent
    return path.parent


def _rust_module(folder: Path, parts: list[str], exists: Exists) -> Path | None:
    """The file of the longest module path in `parts` under `folder` (the rest are items)."""
    for k in range(len(parts), 0, -1):
        base = folder.joinpath(*parts[:k])
        for candidate in (base.with_suffix(".rs"), base / "mod.rs"):
            if exists(candidate):
                return candidate
    return None


def rust_imports(tree: Tree, data: bytes, path: Path, roots: tuple[Path, ...], exists: Exists) -> list[ImportTarget]:
    own = path.parent if path.name in ("mod.rs", "lib.rs", "main.rs") else path.with_suffix("")
    crate = _rust_crate_root(path, roots, exists)
    found: list[Path] = []
    for node in _nodes(tree.root_node, frozenset({"mod_item", "use_declaration"}), depth=2):
        text = _text(node, data)
        if node.type == "mod_item":
            if node.child_by_field_name("body") is None and (name := node.child_by_field_name("name")):
                hit = _rust_module(own, [_text(name, data)], exists)
                found += [hit] if hit else []
            continue
        for use in re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", text):
            parts = use.split("::")
            base = {"crate": crate, "self": path.parent if own == path.parent else own,
                    "super": path.parent if own != path.parent else path.parent.parent}[parts[0]]
            hit = _rust_module(base, parts[1:], exists)
            found += [hit] if hit else []
    return [ImportTarget(p) for p in dict.fromkeys(found) if p != path]


# -- C / C++ --------------------------------------------------------------------------------
def c_imports(tree: Tree, data: bytes, path: Path, roots: tuple[Path, ...], exists: Exists) -> list[ImportTarget]:
    found: list[Path] = []
    for node in _nodes(tree.root_node, frozenset({"preproc_include"}), depth=4):
        spec = node.child_by_field_name("path")
        if spec is None or spec.type != "string_literal":
            continue
        name = _text(spec, data).strip('"')
        bases = [path.parent, *roots, *(r / "include" for r in roots)]
        hit = next((b / name for b in bases if exists(b / name)), None)
        if hit is not None:
            found.append(hit)
    return [ImportTarget(p) for p in dict.fromkeys(found)]


# -- Java -----------------------------------------------------------------------------------
def java_imports(tree: Tree, data: bytes, path: Path, package: str, exists: Exists,
                 listdir: Callable[[Path], list[Path]]) -> list[ImportTarget]:
    siblings = sorted(p for p in listdir(path.parent) if p.suffix == ".java" and p != path)
    found = [ImportTarget(p, PACKAGE_WEIGHT) for p in siblings[:MAX_PACKAGE_FILES]]
    depth = len(package.split(".")) if package else 0
    source_root = path.parent.parents[depth - 1] if 0 < depth < len(path.parent.parents) else path.parent
    for node in _nodes(tree.root_node, frozenset({"import_declaration"}), depth=1):
        dotted = re.sub(r"^import\s+(static\s+)?|;$", "", _text(node, data).strip()).strip()
        parts = dotted.split(".")
        if parts[-1] == "*":
            found += [ImportTarget(p) for p in sorted(listdir(source_root.joinpath(*parts[:-1])))
                      if p.suffix == ".java"][:MAX_PACKAGE_FILES]
            continue
        for k in range(len(parts), 0, -1):  # a.b.C or a.b.C.member
            candidate = source_root.joinpath(*parts[:k]).with_suffix(".java")
            if exists(candidate):
                found.append(ImportTarget(candidate))
                break
    return found
