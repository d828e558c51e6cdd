"""Getting the compiled decoding step (`engine.compiled`) once per machine, without making
anyone wait for it.

At load the backend looks for the package in ``cacheDir/compiled``. If it is there, it is
loaded and checked against the eager step in a thread of its own (1-2 s in a fresh process,
mostly importing inductor), and taken up by the engine's thread at its next poll. If not, and a C++ compiler is
on the PATH, a child process at the lowest priority loads the same model the same way and
builds it (about a minute on two cores) while the server answers with the eager step; the
package is loaded the same way once the child is done.
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
    """Where the compiled step stands for one backend. `state` is one of unsupported, no
    compiler, pending (a build starts on a later poll), building, loading (in a thread of
    its own: about 2 s in a fresh process), ready (`FastDecoder.compiled` is set), failed,
    disagrees. Only the engine's thread calls `poll`, which makes every change."""

    def __init__(self, fast: FastDecoder | None, load_settings: dict[str, Any], kernels: str,
                 cache_dir: Path, cpu: str, model: str, build_after_s: float = BUILD_AFTER_S) -> None:
        self.fast = fast
        self._build_at = time.monotonic() + build_after_s
        self._settings = {**load_settings, "kernels": kernels, "device": "cpu"}
        self.state = "unsupported"
        self._child: subprocess.Popen[bytes] | None = None
        self._loader: threading.Thread | None = None
        self._loaded: tuple[str, Any] = ("failed", None)
        if fast is None or not fast.compilable:
            return
        name = compiled.package_key(fast, cpu, f"{model}|{kernels}")
        self.package = cache_dir / "compiled" / f"{name}.pt2"
        self.failure = self.package.with_suffix(".failed")
        if self.package.exists():
            self._start_loading()
        elif self.failure.exists():
            self.state = "failed"
            logger.info("compiled step: an earlier build failed (%s); decoding eagerly", self.failure)
        elif compiler() is None:
            self.state = "no compiler"
            logger.info("compiled step: no C++ compiler on the PATH; decoding eagerly")
        else:
            self.state = "pending"

    def poll(self) -> str:
        """Move on where it is time: start a pending build, load a package just built, put a
        loaded and checked one to use. The state after."""
        if self.state == "pending" and time.monotonic() >= self._build_at:
            self._child = _start_child(self._settings, self.package)
            self.state = "building"
            logger.info("compiled step: building %s in the background (pid %d)", self.package.name, self._child.pid)
        if self._child is not None and self._child.poll() is not None:
            code, self._child = self._child.returncode, None
            if code == 0 and self.package.exists():
                self._start_loading()
            else:
                self.state = "failed"
                logger.warning("compiled step: the build failed (exit %s); see %s", code,
                               self.package.with_suffix(".log"))
        if self._loader is not None and not self._loader.is_alive():
            self._loader = None
            self.state, step = self._loaded
            if step is not None:
                self.fast.compiled = step  # type: ignore[union-attr]
        return self.state

    def build_now(self) -> None:
        """Start a pending build without waiting for the server to have been in use (benchmarks)."""
        self._build_at = time.monotonic()
        self.poll()

    def wait(self, timeout: float = 900.0, every: float = 0.5) -> str:
        """Poll until nothing is under way (a build or a load) or `timeout` passes; the state."""
        deadline = time.monotonic() + timeout
        while self.poll() in ("building", "loading") and time.monotonic() < deadline:
            time.sleep(every)
        return self.state

    def _start_loading(self) -> None:
        self.state = "loading"
        self._loader = threading.Thread(target=self._load, name="compiled-step-load", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        """In the loader thread: load the package and check it against the eager step."""
        assert self.fast is not None
        started = time.perf_counter()
        try:
            step = compiled.load(self.package)
            good = compiled.agrees(self.fast, step)
        except Exception as exc:  # noqa: BLE001 - a package this torch cannot run: decode eagerly
            logger.warning("compiled step: %s cannot be used (%s); decoding eagerly", self.package, exc)
            self._loaded = ("failed", None)
            return
        if not good:
            logger.warning("compiled step: %s does not match the eager step; decoding eagerly", self.package)
            self._loaded = ("disagrees", None)
            return
        logger.info("compiled step: loaded and checked in %.2f s", time.perf_counter() - started)
        self._loaded = ("ready", step)


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
