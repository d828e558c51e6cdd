"""A model that failed to load is loaded again when the settings are sent again and by the
`distill.reload` command; a shared (TCP) server reloads only a model that failed. The real
server object on a running event loop, with a stand-in backend factory."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from distill_lsp.engine.types import ModelInfo, ModelNotFound
from distill_lsp.engine.worker import EngineState
from distill_lsp.features.reload import reload_model
from tests.fixtures.lsp_wire import initialize, make_distill_server

INFO = ModelInfo(name="stand-in", source="test", path="", device="cpu", dtype="float32", context_length=512,
                 model_type="llama", has_chat_template=False)


class StandIn:
    info = INFO


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The server's backend factory: fails while the list's last entry is "fail"."""
    script = ["fail"]

    def factory(settings):  # stands in for engine.factory.make_backend_factory
        def build():
            if script[-1] == "fail":
                raise ModelNotFound("no model at /models/missing")
            return StandIn()
        return build

    monkeypatch.setattr("distill_lsp.server.make_backend_factory", factory)
    return script


async def loaded(server) -> None:
    await asyncio.wait_for(asyncio.shield(server._load_task), 10)


def statuses(writer) -> list[str]:
    return [m["params"]["state"] for m in writer.messages() if m.get("method") == "distill/status"]


async def test_settings_sent_again_and_reload_retry_a_failed_load(flaky: list[str]) -> None:
    server, protocol, writer = make_distill_server()
    try:
        initialize(protocol)  # initialized: the first load starts, and fails
        await loaded(server)
        assert server.engine.state is EngineState.FAILED and statuses(writer) == ["failed"]
        assert any("no model at /models/missing" in m["params"]["message"] for m in writer.messages()
                   if m.get("method") == types.WINDOW_SHOW_MESSAGE)

        flaky.append("ok")  # e.g. the model was copied into place
        server.update_settings({}, "workspace/didChangeConfiguration")  # the same settings again
        await loaded(server)
        assert server.engine.state is EngineState.READY and statuses(writer) == ["failed", "ready"]

        flaky.append("fail")
        assert reload_model(server)["reloading"] is True  # stdio: the editor owns the process
        await loaded(server)
        assert server.engine.state is EngineState.FAILED
        flaky.append("ok")
        assert reload_model(server)["reloading"] is True
        await loaded(server)
        assert server.engine.state is EngineState.READY and statuses(writer)[-2:] == ["failed", "ready"]
    finally:
        server.engine.close()


async def test_a_shared_server_reloads_only_a_failed_model(flaky: list[str]) -> None:
    flaky.append("ok")
    server, protocol, _ = make_distill_server(shared=True)
    try:
        initialize(protocol)
        await loaded(server)
        answer = reload_model(server)
        assert answer["reloading"] is False and "shared" in answer["reason"]
        assert server.engine.loads == 1
    finally:
        server.engine.close()
