"""Real code nobody here wrote, available offline: the Python standard library of the running
interpreter and a JavaScript package from the npm registry installed into `bench/.npm`."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
NPM_PREFIX = BENCH_DIR / ".npm"
NPM_PACKAGE = "lodash-es@4.17.21"

MIN_BYTES = 1_000
MAX_BYTES = 80_000


class SourceError(Exception):
    """The benchmark's source files cannot be found or installed."""


@dataclass(frozen=True)
class SourceFile:
    language: str
    path: Path
    text: str


def python_files(root: Path | None = None) -> list[Path]:
    """The stdlib's top-level modules, sorted by name (deterministic for one Python version)."""
    root = root or Path(sysconfig.get_paths()["stdlib"])
    files = sorted(root.glob("*.py"))
    if not files:
        raise SourceError(f"no Python sources under {root}")
    return files


def npm_package_dir(spec: str = NPM_PACKAGE, prefix: Path = NPM_PREFIX) -> Path:
    """The installed package's directory, installing it with npm when it is missing."""
    name = spec.rsplit("@", 1)[0] if spec.rfind("@") > 0 else spec
    target = prefix / "node_modules" / name
    if not (target / "package.json").exists():
        _npm_install(spec, prefix)
    return target


def _npm_install(spec: str, prefix: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SourceError("npm is not installed; it is needed once to fetch the JavaScript sources")
    logger.info("installing %s into %s", spec, prefix)
    cmd = [npm, "install", "--prefix", str(prefix), spec, "--no-audit", "--no-fund", "--no-save"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SourceError(f"`{' '.join(cmd)}` failed:\n{done.stderr.strip()}")


def javascript_files(package_dir: Path) -> list[Path]:
    files = sorted(package_dir.glob("*.js"))
    if not files:
        raise SourceError(f"no JavaScript sources under {package_dir}")
    return files


def load(language: str, paths: list[Path]) -> list[SourceFile]:
    """Readable files of a useful size with some code in them (re-export lists are skipped)."""
    kept: list[SourceFile] = []
    for path in paths:
        if not MIN_BYTES <= path.stat().st_size <= MAX_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if "\r" in text or (language == "javascript" and "function" not in text):
            continue
        kept.append(SourceFile(language, path, text))
    return kept


def sources_for(language: str, python_root: Path | None = None, npm_spec: str = NPM_PACKAGE) -> list[SourceFile]:
    if language == "python":
        return load("python", python_files(python_root))
    if language == "javascript":
        return load("javascript", javascript_files(npm_package_dir(npm_spec)))
    raise SourceError(f"no sources for language {language!r} (known: python, javascript)")
