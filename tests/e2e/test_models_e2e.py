"""Model resolution through a real server: the reference architecture by hub id from an
offline cache, and a model that cannot be found (one message, the server stays up)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.fixtures.models import TINY_REPO, hub_cache_with_tiny_qwen2
from tests.helpers import SERVER_CMD, UNFINISHED_PY, end_of, init_params, inline_params, open_doc, wait_ready

HUB = Path(tempfile.mkdtemp(prefix="distill-hub-"))


def _hub_env() -> dict[str, str]:
    if not any(HUB.iterdir()):
        hub_cache_with_tiny_qwen2(HUB)
    return {**os.environ, "HF_HUB_CACHE": str(HUB), "HF_HUB_OFFLINE": "1"}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD, server_env=_hub_env()), scope="module")
async def qwen(lsp_client: LanguageClient):
    await lsp_client.initialize_session(init_params({"model": TINY_REPO, "profile": "greedy", "maxNewTokens": 8}))
    lsp_client.status = await wait_ready(lsp_client)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def missing(lsp_client: LanguageClient):
    await lsp_client.initialize_session(init_params({"model": "/no/such/dir/model.gguf"}))
    lsp_client.status = await wait_ready(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def test_tiny_qwen2_by_hub_id(qwen: LanguageClient, tmp_path) -> None:
    assert qwen.status["state"] == "ready", qwen.status
    assert qwen.status["modelType"] == "qwen2"
    uri = (tmp_path / "a.py").as_uri()
    open_doc(qwen, uri, UNFINISHED_PY)
    result = await qwen.text_document_inline_completion_async(inline_params(uri, end_of(UNFINISHED_PY)))
    assert isinstance(result, types.InlineCompletionList)  # random weights: any text, but an answer


async def test_missing_model_one_message_and_empty_answers(missing: LanguageClient, tmp_path) -> None:
    assert missing.status["state"] == "failed"
    assert "does not exist" in missing.status["error"]
    errors = [m for m in missing.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1 and "/no/such/dir/model.gguf" in errors[0].message
    uri = (tmp_path / "b.py").as_uri()
    open_doc(missing, uri, UNFINISHED_PY)
    result = await missing.text_document_inline_completion_async(inline_params(uri, end_of(UNFINISHED_PY)))
    assert list(result.items) == []
    # still alive and configurable: switching to a valid model loads it
    missing.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"distill": {"model": "auto"}}))
    status = await wait_ready(missing)
    assert status["state"] == "ready"
