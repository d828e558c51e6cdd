"""Battery, faults: broken models give one clear message and empty answers while the
server stays up; an injected out-of-memory falls back to the CPU with one message."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from distill_lsp.engine.resolve import bundled_gguf
from tests.helpers import SERVER_CMD, init_params, inline_params, open_doc, wait_ready

ADD = "def add(a, b):\n    return "
AT_ADD = types.Position(1, 11)
BROKEN = Path(tempfile.mkdtemp(prefix="distill-broken-"))


def broken_models() -> dict[str, Path]:
    corrupt = BROKEN / "corrupt"
    corrupt.mkdir(exist_ok=True)
    (corrupt / "config.json").write_text("{ this is not json")
    half = BROKEN / "half-written"
    half.mkdir(exist_ok=True)
    (half / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    truncated = BROKEN / "truncated.gguf"
    source = bundled_gguf()
    assert source is not None
    with source.open("rb") as src, truncated.open("wb") as dst:
        dst.write(src.read(3 * 1024 * 1024))
    return {"missing": BROKEN / "no-such-model-dir", "corrupt": corrupt, "half-written": half,
            "truncated-gguf": truncated}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(init_params({"profile": "greedy", "maxNewTokens": 4,
                                                     "model": str(BROKEN / "no-such-model-dir")}))
    lsp_client.first_status = await wait_ready(lsp_client)
    yield
    await lsp_client.shutdown_session()


def errors(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


async def test_broken_models_one_message_each_then_recovery(client: LanguageClient, tmp_path) -> None:
    uri = (tmp_path / "a.py").as_uri()
    open_doc(client, uri, ADD)
    models = broken_models()
    assert client.first_status["state"] == "failed"
    for name, path in models.items():
        if name != "missing":
            before = len(errors(client))
            client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
                settings={"distill": {"model": str(path)}}))
            status = await wait_ready(client)
            assert status["state"] == "failed", (name, status)
            new = errors(client)[before:]
        else:
            new = errors(client)
        assert len(new) == 1, (name, new)
        assert str(path) in new[0], (name, new[0])
        result = await client.text_document_inline_completion_async(inline_params(uri, AT_ADD))
        assert list(result.items) == [], name
    # still alive: a good model loads and answers
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"distill": {"model": "auto"}}))
    assert (await wait_ready(client))["state"] == "ready"
    result = await client.text_document_inline_completion_async(inline_params(uri, AT_ADD))
    assert len(result.items) == 1 and result.items[0].insert_text.strip()
    shutil.rmtree(BROKEN, ignore_errors=True)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD,
                                              server_env={**os.environ, "DISTILL_LSP_FAULT": "oom"}),
                    scope="module")
async def oom(lsp_client: LanguageClient):
    await lsp_client.initialize_session(init_params({"profile": "greedy", "maxNewTokens": 8}))
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def test_out_of_memory_falls_back_to_cpu_with_one_message(oom: LanguageClient, tmp_path) -> None:
    for k in range(3):
        uri = (tmp_path / f"oom{k}.py").as_uri()
        open_doc(oom, uri, ADD)
        result = await oom.text_document_inline_completion_async(inline_params(uri, AT_ADD))
        assert len(result.items) == 1 and result.items[0].insert_text.strip(), k
        oom.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    notices = [m.message for m in oom.messages if "out of memory" in m.message]
    assert len(notices) == 1 and "CPU" in notices[0], notices
