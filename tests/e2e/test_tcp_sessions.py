"""Many editor windows, one process: `distill-lsp serve --tcp` with the real bundled model.

Three clients connect at once, each opens its own text under the same URI and gets a
completion of it; the process holds one engine that loaded the model once, though two
windows ask for other models (a shared server ignores that, with one message); a client
that disconnects in the middle of a request does not disturb the other two, and its
session is dropped from the engine.
"""

from __future__ import annotations

import asyncio
import time

import psutil
import pytest

from tests.fixtures.lsp_wire import notification, request
from tests.fixtures.tcp_client import OPTIONS, URI, Client, serve_tcp

DOCS = {
    "a": "def add(a, b):\n    return ",
    "b": "def is_even(n):\n    return ",
    "c": "def greet(name):\n    return ",
}


@pytest.fixture(scope="module")
def tcp_server():
    with serve_tcp() as (port, proc):
        yield port, proc


async def test_three_windows_share_one_model_and_a_disconnect_disturbs_no_one(tcp_server) -> None:
    port, proc = tcp_server
    clients = {name: await Client.connect(port) for name in DOCS}
    # windows b and c ask for other models: a shared server ignores that (and says so), so
    # the model every window uses is loaded once and never swapped under the others
    models = {"a": {}, "b": {"model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "device": "cuda"},
              "c": {"model": "/models/missing.gguf", "quantize": "none"}}
    statuses = await asyncio.gather(*(c.start(DOCS[n], {**OPTIONS, **models[n]}) for n, c in clients.items()))
    assert all(s["state"] == "ready" and "SmolLM2" in s["model"] for s in statuses), statuses
    for name in ("b", "c"):
        told = [m["params"]["message"] for m in clients[name].notifications if m["method"] == "window/showMessage"]
        assert len(told) == 1 and "model" in told[0] and "ignored" in told[0], told

    # each window completes its own text (same URI, different documents), all at once
    answers = await asyncio.gather(*(c.complete(f"{n}1", DOCS[n]) for n, c in clients.items()))
    assert all(a.strip() for a in answers), answers

    engine = [(await c.call(f"{n}s", "workspace/executeCommand", {"command": "distill.status"}))["result"]
              ["sharedEngine"] for n, c in clients.items()]
    assert len({e["engineId"] for e in engine}) == 1, "each session has its own engine"
    assert {e["loads"] for e in engine} == {1}, "the model was loaded more than once"
    assert {e["sessions"] for e in engine} == {3}
    assert len({e["session"] for e in engine}) == 3
    params = engine[0]["parameterBytes"]
    assert params > 100e6  # SmolLM2-135M's weights, held once
    rss = psutil.Process(proc.pid).memory_info().rss
    print(f"parameter bytes {params / 2**20:.0f} MiB, server RSS {rss / 2**20:.0f} MiB with 3 sessions")
    assert rss < 2 * params + 1.5 * 2**30  # one copy of the weights plus the runtime, not three copies

    # window c asks, then its connection is reset mid-request; a and b go on as before
    gone = clients.pop("c")
    await gone.send(request("c2", "textDocument/inlineCompletion", {
        "textDocument": {"uri": URI}, "position": {"line": 1, "character": 11}, "context": {"triggerKind": 1}}))
    await asyncio.sleep(0.3)  # the request is in the engine's queue or running
    gone.writer.transport.abort()
    started = time.monotonic()
    after = await asyncio.gather(*(c.complete(f"{n}2", DOCS[n] + "a") for n, c in clients.items()))
    assert all(a.strip() for a in after), after
    assert time.monotonic() - started < 120
    for _ in range(50):
        status = (await clients["a"].call("as2", "workspace/executeCommand",
                                          {"command": "distill.status"}))["result"]["sharedEngine"]
        if status["sessions"] == 2:
            break
        await asyncio.sleep(0.1)
    assert status["sessions"] == 2 and status["loads"] == 1 and status["pending"] == 0, status
    for name, client in clients.items():
        assert "result" in await client.call(f"{name}bye", "shutdown")
        await client.send(notification("exit"))
    assert proc.poll() is None, "the server process must outlive its sessions"
