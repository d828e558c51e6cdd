"""Getting the compiled decoding step (`engine.compiled`) once per machine, without making
anyone wait for it.

At load the backend looks for the package in ``cacheDir/compiled``. If it is there, it is
loaded (milliseconds) and checked against the eager step. If not, and a C++ compiler is
on the PATH, a child process at the lowest priority loads the same model the same way and
builds it (about a minute on two cores) while the server answers with the eager step; the
backend picks the package up at the start of the first generation after the child is done.
The build starts with the first generation `BUILD_AFTER_S` after the model loaded, so a
one-shot session (the headless `complete`) never starts one it would not wait for.
A build that failed is remembered next to the package's name, so it is not retried on
every start. ``python -m distill_lsp.engine.step_build SETTINGS OUT`` is the child.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import compiled
from .fastpath import FastDecoder

logger = logging.getLogger(__name__)

COMPILERS = ("c++", "g++", "clang++", "cl")
LOAD_SETTINGS = ("model", "device", "dtype", "device_map", "threads", "cache_dir", "quantize")
"""The settings that decide how the model is loaded: the child loads it from these."""
BUILD_AFTER_S = 30.0


class StepBuild:
    """Where the compiled step stands for one backend: `state` is one of unsupported, no
    compiler, pending (a build starts on a later poll), building, ready, failed, disagrees;
    `poll` gives the step once ready."""

    def __init__(self, fast: FastDecoder | None, load_settings: dict[str, Any], kernels: str,
                 cache_dir: Path, cpu: str, model: str, build_after_s: float = BUILD_AFTER_S) -> None:
        self.fast = fast
        self._build_at = time.monotonic() + build_after_s
        self._settings = {**load_settings, "kernels": kernels, "device": "cpu"}
        self.step: compiled.CompiledStep | None = None
        self.state = "unsupported"
        self._child: subprocess.Popen[bytes] | None = None
        if fast is None or not fast.compilable:
            return
        name = compiled.package_key(fast, cpu, f"{model}|{kernels}")
        self.package = cache_dir / "compiled" / f"{name}.pt2"
        self.failure = self.package.with_suffix(".failed")
        if self.package.exists():
            self._load()
        elif self.failure.exists():
            self.state = "failed"
            logger.info("compiled step: an earlier build failed (%s); decoding eagerly", self.failure)
        elif compiler() is None:
            self.state = "no compiler"
            logger.info("compiled step: no C++ compiler on the PATH; decoding eagerly")
        else:
            self.state = "pending"

    def poll(self) -> compiled.CompiledStep | None:
        """The compiled step once it is ready (starting a pending build when it is time,
        loading the package when a build has just finished)."""
        if self.state == "pending" and time.monotonic() >= self._build_at:
            self._child = _start_child(self._settings, self.package)
            self.state = "building"
            logger.info("compiled step: building %s in the background (pid %d)", self.package.name, self._child.pid)
        if self._child is not None and self._child.poll() is not None:
            code, self._child = self._child.returncode, None
            if code == 0 and self.package.exists():
                self._load()
            else:
                self.state = "failed"
                logger.warning("compiled step: the build failed (exit %s); see %s", code,
                               self.package.with_suffix(".log"))
        return self.step

    def build_now(self) -> None:
        """Start a pending build without waiting for the server to have been in use (benchmarks)."""
        self._build_at = time.monotonic()
        self.poll()

    def _load(self) -> None:
        assert self.fast is not None
        started = time.perf_counter()
        try:
            step = compiled.CompiledStep(self.fast, self.package)
            agrees = step.agrees()
        except Exception as exc:  # noqa: BLE001 - a package this torch cannot run: decode eagerly
            logger.warning("compiled step: %s cannot be used (%s); decoding eagerly", self.package, exc)
            self.state = "failed"
            return
        if not agrees:
            self.state = "disagrees"
            logger.warning("compiled step: %s does not match the eager step; decoding eagerly", self.package)
            return
        self.step, self.state = step, "ready"
        logger.info("compiled step: loaded and checked in %.2f s", time.perf_counter() - started)


def compiler() -> str | None:
    """The C++ compiler a build would use (AOTInductor's), or None."""
    return next((path for name in COMPILERS if (path := shutil.which(name))), None)


def kept(cache_dir: Path) -> tuple[int, int]:
    """Packages built in `cache_dir`, and builds that failed (remembered, not retried)."""
    folder = cache_dir / "compiled"
    if not folder.is_dir():
        return 0, 0
    built = [p for p in folder.glob("*.pt2") if not p.name.endswith(".partial.pt2")]
    return len(built), len(list(folder.glob("*.failed")))


def _start_child(settings: dict[str, Any], package: Path) -> subprocess.Popen[bytes]:
    package.parent.mkdir(parents=True, exist_ok=True)
    log = package.with_suffix(".log").open("wb")
    command = [sys.executable, "-m", "distill_lsp.engine.step_build", json.dumps(settings), str(package),
               str(os.getpid())]
    nice = shutil.which("nice")
    if nice:  # at the lowest priority from its first instruction: importing torch is work too
        command = [nice, "-n", "19", *command]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    finally:
        log.close()


def _leave_with_parent(parent: int) -> None:
    """The child ends when the server does (a build nobody waits for is wasted work)."""
    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(3)
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> int:
    settings_json, out, parent = argv[0], Path(argv[1]), int(argv[2])
    _leave_with_parent(parent)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 19)  # where `nice` was not found to start it so
    except (AttributeError, OSError):
        pass
    from ..settings import Settings
    from .factory import make_backend_factory

    settings = Settings(**json.loads(settings_json), compile_step="off", prefix_cache_mb=0)
    backend = make_backend_factory(settings)()
    if backend.fast is None or not backend.fast.compilable:
        raise SystemExit("this model's decoding step cannot be compiled")
    partial = out.with_suffix(f".{os.getpid()}.partial.pt2")  # two servers may build the same package
    started = time.perf_counter()
    try:
        compiled.build(backend.fast, partial)
    except Exception as exc:
        out.with_suffix(".failed").write_text(f"{type(exc).__name__}: {exc}\n")
        raise
    os.replace(partial, out)
    print(f"built {out} in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
