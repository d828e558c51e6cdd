"""Switching the sampling profile at run time over a real stdio session (bundled model)."""

from __future__ import annotations

import re

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.helpers import SERVER_CMD, UNFINISHED_PY, end_of, init_params, inline_params, open_doc, wait_ready

OPTIONS = {"profile": "greedy", "maxNewTokens": 8}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def client(lsp_client: LanguageClient):
    lsp_client.traces = []

    @lsp_client.feature(types.LOG_TRACE)
    def trace(params: types.LogTraceParams) -> None:
        lsp_client.traces.append(params.message)

    params = init_params(OPTIONS)
    params.trace = types.TraceValue.Messages
    result = await lsp_client.initialize_session(params)
    lsp_client.init_result = result
    await wait_ready(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def _complete_and_read_profile(client: LanguageClient, uri: str, text: str, pos: types.Position) -> str:
    before = len(client.traces)
    await client.text_document_inline_completion_async(inline_params(uri, pos))
    lines = [t for t in client.traces[before:] if re.match(r"c\d+: profile=", t)]
    assert len(lines) == 1, client.traces[before:]
    return re.match(r"c\d+: profile=(\S+)", lines[0]).group(1)


def test_command_is_advertised(client: LanguageClient) -> None:
    provider = client.init_result.capabilities.execute_command_provider
    assert provider is not None and "distill.setProfile" in provider.commands


async def test_set_profile_switches_without_restart(client: LanguageClient, tmp_path) -> None:
    uri = (tmp_path / "fib.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    pos = end_of(UNFINISHED_PY)
    assert await _complete_and_read_profile(client, uri, UNFINISHED_PY, pos) == "greedy"

    answer = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="distill.setProfile", arguments=["precise"]))
    assert answer["profile"] == "precise" and "temperature=0.45" in answer["describe"]
    assert await _complete_and_read_profile(client, uri, UNFINISHED_PY, pos) == "precise"

    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="distill.setProfile", arguments=["auto", "completion"]))
    # a block after `def ...:` and mid-line with code to the right -> greedy;
    # within a comment line -> coding (profiles.AUTO_RULE)
    assert await _complete_and_read_profile(client, uri, UNFINISHED_PY, pos) == "auto:greedy"
    mid = "def area(r):\n    return 3.14 * r\n\nx = area() + 1\n"
    uri2 = (tmp_path / "mid.py").as_uri()
    open_doc(client, uri2, mid)
    assert await _complete_and_read_profile(client, uri2, mid, types.Position(3, 9)) == "auto:greedy"
    comment = "# Return the sum of \ndef add(a, b):\n    return a + b\n"
    uri3 = (tmp_path / "comment.py").as_uri()
    open_doc(client, uri3, comment)
    assert await _complete_and_read_profile(client, uri3, comment, types.Position(0, 19)) == "auto:coding"


async def test_did_change_configuration_switches_too(client: LanguageClient, tmp_path) -> None:
    uri = (tmp_path / "conf.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"distill": {"profile": "creative"}}))
    assert await _complete_and_read_profile(client, uri, UNFINISHED_PY, end_of(UNFINISHED_PY)) == "creative"


async def test_unknown_profile_is_an_error_and_keeps_the_active_one(client: LanguageClient, tmp_path) -> None:
    with pytest.raises(Exception, match="unknown profile 'wild'"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="distill.setProfile", arguments=["wild"]))
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="distill.setProfile", arguments=["greedy"]))
    uri = (tmp_path / "keep.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    with pytest.raises(Exception, match="unknown profile"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="distill.setProfile", arguments=["nope"]))
    assert await _complete_and_read_profile(client, uri, UNFINISHED_PY, end_of(UNFINISHED_PY)) == "greedy"


async def test_status_reports_the_running_servers_profiles_model_and_caches(client: LanguageClient,
                                                                            tmp_path) -> None:
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="distill.setProfile", arguments=["precise", "fix"]))
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="distill.setProfile", arguments=["creative"]))
    uri = (tmp_path / "status.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    await client.text_document_inline_completion_async(inline_params(uri, end_of(UNFINISHED_PY)))
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="distill.status"))
    assert status["engine"] == "ready" and status["activeProfile"] == "creative"
    assert "temperature=0.85" in status["profiles"]["completion"]
    assert "temperature=0.45" in status["profiles"]["fix"]
    assert status["model"]["device"] == "cpu" and "int4" in status["model"]["quantization"]
    assert status["prefixCache"]["entries"] >= 1 and status["prefixCache"]["mib"] > 0
    assert status["memory"]["rssMiB"] > 100
    memory = status["memory"]
    assert memory["heapInUseMiB"] > 0 and memory["mmapMiB"] > 0 and memory["pythonBlocks"] > 0
    assert "pythonAllocationGrowth" not in memory  # only when the server runs under tracemalloc
    shared = status["sharedEngine"]
    assert shared["loads"] == 1 and shared["sessions"] == 1 and shared["parameterBytes"] > 0
