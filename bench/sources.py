"""Real code nobody here wrote, available offline and pinned, one source per language:

- python: the standard library of the running interpreter (its top-level modules);
- javascript: `lodash-es` and typescript: `rxjs` (its `src/` tree), from the npm registry,
  installed on first use under `bench/.npm/<package>@<version>`;
- go: Debian's `golang-1.19-src` (the standard library, without `cmd/`, tests and vendored code);
- rust: three crates' sources from Debian's `librust-*-dev` packages.

Debian packages are installed by `python -m bench.sources --install` (root, apt-get); a
missing one is a `SourceError` that names the command. `python -m bench.sources` lists
what each language has.
"""

from __future__ import annotations

import argparse
import logging
import platform
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
NPM_ROOT = BENCH_DIR / ".npm"
_DEBIAN_ROOTS = {"go": Path("/usr/share/go-1.19/src"), "rust": Path("/usr/share/cargo/registry")}

MIN_BYTES = 1_000
MAX_BYTES = 80_000
GENERATED_MARKS = ("DO NOT EDIT", "@generated")
"""Files saying this near their top were written by a program: not what a person types."""


class SourceError(Exception):
    """The benchmark's source files cannot be found or installed."""


@dataclass(frozen=True)
class SourceFile:
    language: str
    path: Path
    text: str
    relative: str
    """The path relative to its source's root (what the tuning / held-out split hashes)."""


@dataclass(frozen=True)
class Source:
    """Where one language's files come from, the pinned packages that hold them, and which
    files count: those with the language's extensions under `dirs` of `root`."""

    language: str
    registry: str
    """`npm`, `debian` or `python` (the running interpreter)."""
    packages: tuple[str, ...]
    """Pinned: `name@version` for npm, `name=version` for Debian."""
    dirs: tuple[str, ...]
    """Folders under the root whose files are used."""
    recursive: bool = True
    skip_parts: frozenset[str] = field(default_factory=frozenset)
    """Folder names whose files are left out anywhere below `dirs` (tests, vendored code)."""
    skip_suffixes: tuple[str, ...] = ()
    project: str = ""
    """The folder under the root a user would open as the workspace; `*` for the first
    folder of each file's path (one crate per folder)."""

    @property
    def root(self) -> Path:
        if self.registry == "npm":
            return npm_package_dir(self.packages[0])
        if self.registry == "debian":
            return _DEBIAN_ROOTS[self.language]
        return Path(sysconfig.get_paths()["stdlib"])

    def install_command(self) -> list[str]:
        if self.registry == "npm":
            spec = self.packages[0]
            return ["npm", "install", "--prefix", str(NPM_ROOT / spec), spec, "--no-audit", "--no-fund", "--no-save"]
        if self.registry == "debian":
            return ["apt-get", "install", "-y", "--no-install-recommends", *self.packages]
        return []


_TEST_PARTS = frozenset({"test", "tests", "testdata", "testing", "benches", "vendor"})

SOURCES: dict[str, Source] = {source.language: source for source in (
    Source("python", "python", (), ("",), recursive=False),
    Source("javascript", "npm", ("lodash-es@4.17.21",), ("",), recursive=False),
    Source("typescript", "npm", ("rxjs@7.8.1",), ("src",), skip_parts=_TEST_PARTS, skip_suffixes=(".d.ts",),
           project="src"),
    Source("go", "debian", ("golang-1.19-src=1.19.8-2",), ("",), skip_parts=_TEST_PARTS | {"cmd"},
           skip_suffixes=("_test.go",)),
    Source("rust", "debian", ("librust-regex-syntax-dev=0.6.27-1", "librust-semver-dev=1.0.14-1",
                              "librust-memchr-dev=2.5.0-1"),
           ("regex-syntax-0.6.27/src", "semver-1.0.14/src", "memchr-2.5.0/src"), skip_parts=_TEST_PARTS,
           project="*"),
)}
LANGUAGES = tuple(SOURCES)
SOURCES_BY_PACKAGE = {spec: source for source in SOURCES.values() if source.registry == "npm"
                      for spec in source.packages}

_MUST_CONTAIN = {"javascript": "function", "typescript": "function"}
"""Files of these languages without this word are re-export lists, not code to complete."""


def npm_package_dir(spec: str) -> Path:
    """The installed package's folder, installing the pinned `spec` with npm when it is missing."""
    name = spec.rsplit("@", 1)[0]
    target = NPM_ROOT / spec / "node_modules" / name
    if not (target / "package.json").exists():
        _run_install(SOURCES_BY_PACKAGE[spec])
    return target


def _run_install(source: Source) -> None:
    cmd = source.install_command()
    if shutil.which(cmd[0]) is None:
        raise SourceError(f"`{cmd[0]}` is not installed; it is needed once to fetch the {source.language} sources")
    logger.info("installing the %s sources: %s", source.language, " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SourceError(f"`{' '.join(cmd)}` failed:\n{done.stderr.strip()}")



def install(language: str) -> None:
    """Install the pinned packages holding `language`'s sources (Debian: needs root)."""
    source = _source(language)
    if source.registry == "debian":
        _run_install(source)
    elif source.registry == "npm":
        npm_package_dir(source.packages[0])


def _source(language: str) -> Source:
    if language not in SOURCES:
        raise SourceError(f"no sources for language {language!r} (known: {', '.join(LANGUAGES)})")
    return SOURCES[language]


def source_paths(language: str) -> tuple[Path, list[Path]]:
    """The source's root and its candidate files, sorted by their path relative to the root."""
    from distill_lsp.context.languages import detect_language

    source = _source(language)
    spec = detect_language(language, None)
    assert spec is not None, language
    root = source.root
    missing = [root / d for d in source.dirs if not (root / d).is_dir()]
    if missing:
        raise SourceError(f"no {language} sources at {missing[0]}; install them with "
                          f"`{' '.join(source.install_command())}` (after `apt-get update`), "
                          f"or `python -m bench.sources --install {language}`")
    found = []
    for folder in source.dirs:
        pattern = "**/*" if source.recursive else "*"
        for path in (root / folder).glob(pattern):
            relative = path.relative_to(root)
            if (path.suffix in spec.extensions and path.is_file()
                    and not path.name.endswith(source.skip_suffixes)
                    and not source.skip_parts.intersection(relative.parts[:-1])):
                found.append(path)
    if not found:
        raise SourceError(f"no {language} sources under {root}")
    return root, sorted(found, key=lambda p: p.relative_to(root).as_posix())


def project_folder(language: str, path: Path) -> Path:
    """The workspace folder a user editing `path` (a file of `language`'s source) would have
    open: the package (rxjs: its `src/`, not the built copies beside it), the crate, Go's
    `src/`, the standard library."""
    source = _source(language)
    root = source.root
    if source.project == "*":
        return root / path.relative_to(root).parts[0]
    return root / source.project if source.project else root


def stdlib_copy(into: Path) -> Path:
    """The running interpreter's standard library copied under `into`, without
    site-packages (what a workspace of the standard library holds)."""
    target = into / "stdlib"
    shutil.copytree(Path(sysconfig.get_paths()["stdlib"]), target,
                    ignore=shutil.ignore_patterns("site-packages", "__pycache__"), symlinks=True)
    return target


def load(language: str, root: Path, paths: list[Path]) -> list[SourceFile]:
    """Readable files of a useful size, written by people, with some code in them."""
    kept: list[SourceFile] = []
    for path in paths:
        if not MIN_BYTES <= path.stat().st_size <= MAX_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if "\r" in text or any(mark in text[:2000] for mark in GENERATED_MARKS):
            continue
        if _MUST_CONTAIN.get(language, "") not in text:
            continue
        kept.append(SourceFile(language, path, text, path.relative_to(root).as_posix()))
    return kept


def sources_for(language: str) -> list[SourceFile]:
    """The files cases for `language` are cut from (npm packages are installed on first use)."""
    root, paths = source_paths(language)
    return load(language, root, paths)


def pinned(language: str) -> str:
    """What the language's files come from, for reports: the pinned packages or the interpreter."""
    source = _source(language)
    if source.registry == "python":
        return f"Python {platform.python_version()} standard library"
    return ", ".join(source.packages)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__.split("\n\n")[0])
    p.add_argument("languages", nargs="*", default=list(LANGUAGES), help=f"default: {' '.join(LANGUAGES)}")
    p.add_argument("--install", action="store_true", help="install what is missing (Debian packages need root)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    failed = 0
    for language in args.languages:
        try:
            if args.install:
                try:
                    source_paths(language)
                except SourceError:
                    install(language)
            files = sources_for(language)
            print(f"{language:<11} {len(files):4d} files  {pinned(language)}  ({_source(language).root})")
        except SourceError as exc:
            failed += 1
            print(f"{language:<11} missing: {exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
