"""Battery, trust: a server shared over TCP takes the settings that act on the process or
the machine only from its own command line, environment or config file. A client that
sends them gets one message naming them; its other settings stay its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fixtures.fake_openai import FakeOpenAI
from tests.fixtures.tcp_client import Client, serve_tcp

SECRET = "zq-server-secret-7781"
SHOWN = "window/showMessage"


def shown(client: Client) -> list[str]:
    return [n["params"]["message"] for n in client.notifications if n["method"] == SHOWN]


@pytest.fixture
def endpoints():
    server_own, client_chosen = FakeOpenAI(), FakeOpenAI()
    yield server_own, client_chosen
    server_own.stop()
    client_chosen.stop()


async def test_a_tcp_client_cannot_point_the_server_key_at_its_own_endpoint(endpoints, tmp_path: Path) -> None:
    server_own, client_chosen = endpoints
    server_own.pieces = client_chosen.pieces = ["a + b", "\n"]
    env = {**os.environ, "SERVER_SECRET": SECRET, "DISTILL_LSP_BACKEND": "openai",
           "DISTILL_LSP_ENDPOINT": server_own.url}
    options = {"backend": "openai", "endpoint": client_chosen.url, "apiKeyEnv": "SERVER_SECRET",
               "cacheDir": str(tmp_path / "chosen"), "maxNewTokens": 6}
    with serve_tcp(env=env) as (port, _):
        client = await Client.connect(port)
        status = await client.start("def add(a, b):\n    return ", options)
        assert status["state"] == "ready", status
        answer = await client.complete(1, "def add(a, b):\n    return ")
        assert (await client.call(2, "shutdown"))["result"] is None
    assert not any(SECRET in json.dumps(h) for h in server_own.headers + client_chosen.headers), "the key leaked"
    assert client_chosen.headers == [] and client_chosen.requests == [], "the server called the client's endpoint"
    assert answer == "a + b" and server_own.requests, "the server's own endpoint answers the completion"
    assert not (tmp_path / "chosen").exists(), "the client chose where the server writes"
    messages = [m for m in shown(client) if "ignored" in m]
    assert len(messages) == 1, shown(client)
    assert all(key in messages[0] for key in ("apiKeyEnv", "backend", "cacheDir", "endpoint")), messages
    assert "maxNewTokens" not in messages[0], "a session's own setting is not ignored"


async def test_two_windows_with_different_models_share_one_load(endpoints, tmp_path: Path) -> None:
    server_own, _ = endpoints
    path = tmp_path / "settings.json"  # the server's config file: its own backend
    path.write_text(json.dumps({"backend": "openai", "endpoint": server_own.url}))
    with serve_tcp("--config", str(path)) as (port, _):
        first, second = await Client.connect(port), await Client.connect(port)
        await first.start("x = 1\n", {"model": "one-model", "remoteModel": "one", "maxNewTokens": 4})
        await second.start("y = 2\n", {"model": "another-model", "remoteModel": "two", "maxNewTokens": 5})
        engine = [(await c.call(f"s{i}", "workspace/executeCommand", {"command": "distill.status"}))["result"]
                  ["sharedEngine"] for i, c in enumerate((first, second))]
        assert {e["engineId"] for e in engine} == {engine[0]["engineId"]}
        assert [e["loads"] for e in engine] == [1, 1], "a window's model setting reloaded the shared model"
        assert all(e["state"] == "ready" and e["model"] == "fake-model" for e in engine), engine
        for client in (first, second):
            assert any("model" in m and "remoteModel" in m for m in shown(client)), shown(client)
            status = (await client.call("st", "workspace/executeCommand", {"command": "distill.status"}))["result"]
            assert status["engine"] == "ready"
