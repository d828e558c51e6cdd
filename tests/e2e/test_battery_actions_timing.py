"""Battery, actions in time: an Explain asked for while the model loads waits for it (with
progress saying so) up to `loadWaitSeconds`, then fails with a clear message, while
completions answer empty; an edit of the document that races a Fix's apply refuses the
edit instead of applying it to text it was not made for. The real server over stdio with
a scripted OpenAI-compatible endpoint whose model list and answers the test holds back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.fixtures.fake_openai import FakeOpenAI
from tests.helpers import SERVER_CMD, record_applied_edits, inline_params, open_doc, plain, wait_ready

BROKEN = "def mean(values):\n    total = 0\n    for v in values\n        total += v\n    return total\n"
FIXED = "```python\ndef mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total\n```\n"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.stop()


def caps() -> types.ClientCapabilities:
    """A client like eglot 1.9: commands and workspace/applyEdit, no documentChanges."""
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(apply_edit=True),
        text_document=types.TextDocumentClientCapabilities(code_action=types.CodeActionClientCapabilities()))


async def start(client: LanguageClient, fake: FakeOpenAI, **options: Any) -> None:
    record_applied_edits(client)

    settings = {"backend": "openai", "endpoint": fake.url, "actionMaxNewTokens": 80, "reasoningTokens": 0,
                "explainProfile": "greedy", "fixProfile": "greedy", **options}
    await client.initialize_session(types.InitializeParams(capabilities=caps(), initialization_options=settings))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD))
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def command_of(client: LanguageClient, uri: str, title: str, line: int = 2) -> types.Command:
    here = types.Position(line, 4)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), types.Range(here, here), types.CodeActionContext(diagnostics=[])))
    return next(a.command for a in actions if a.title == title)


def run(client: LanguageClient, command: types.Command) -> asyncio.Future:
    return asyncio.ensure_future(client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=command.command, arguments=command.arguments)))


async def until(condition: Any, what: str) -> None:
    """Wait for a condition the server makes true by sending something (bounded)."""
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def waiting_bars(client: LanguageClient) -> list[list[tuple[str, str | None]]]:
    """(kind, message) of each progress bar that said it waits for the model to load."""
    return [[(r.kind, getattr(r, "message", None)) for r in reports] for reports in client.progress_reports.values()
            if any(getattr(r, "message", None) == "waiting for the model to load" for r in reports)]


async def test_explain_waits_for_a_loading_model_with_progress(client: LanguageClient, fake: FakeOpenAI) -> None:
    fake.models_open.clear()  # the model takes its time to load
    await start(client, fake)
    uri = "file:///wait/mean.py"
    open_doc(client, uri, BROKEN)
    explain = await command_of(client, uri, "Explain this")
    pending = run(client, explain)
    await until(lambda: waiting_bars(client), "a progress bar saying the model is loading")
    inline = await client.text_document_inline_completion_async(inline_params(uri, types.Position(4, 16)))
    assert list(inline.items) == [], "completions answer empty while the model loads"
    assert not pending.done(), "the explicit request waits"
    fake.pieces = ["It sums ", "the values."]
    fake.models_open.set()
    result = plain(await asyncio.wait_for(pending, 30))
    assert "It sums the values." in result["markdown"]
    assert waiting_bars(client) == [[("begin", "waiting for the model to load"), ("end", "ready")]]


async def test_explain_gives_up_after_load_wait_seconds(client: LanguageClient, fake: FakeOpenAI) -> None:
    fake.models_open.clear()
    await start(client, fake, loadWaitSeconds=0.5)
    uri = "file:///wait/slow.py"
    open_doc(client, uri, BROKEN)
    with pytest.raises(JsonRpcException, match=r"still loading after 0.5 s \(loadWaitSeconds\)"):
        await asyncio.wait_for(client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="distill.explain", arguments=(await command_of(client, uri, "Explain this")).arguments)), 30)
    assert any("still loading" in m.message for m in client.messages)
    assert waiting_bars(client) == [[("begin", "waiting for the model to load"), ("end", "still loading")]]
    status = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="distill.status"))
    assert status["engine"] == "loading", "the load goes on after the request gave up"
    fake.models_open.set()


async def test_an_edit_racing_the_apply_refuses_the_fix(client: LanguageClient, fake: FakeOpenAI) -> None:
    await start(client, fake, parserRepair=False, actionTries=1)  # the model's one answer races the edit
    assert (await wait_ready(client))["state"] == "ready"
    uri = "file:///race/mean.py"
    open_doc(client, uri, BROKEN)
    fix = await command_of(client, uri, "Fix this")
    fake.pieces = [FIXED]
    fake.stream_open.clear()  # the model holds its answer
    pending = run(client, fix)
    await asyncio.to_thread(fake.generating.wait, 30)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text="# typed meanwhile\n" + BROKEN)]))
    await client.workspace_execute_command_async(types.ExecuteCommandParams(command="distill.status"))  # (in order)
    fake.stream_open.set()
    with pytest.raises(JsonRpcException, match="document changed"):
        await asyncio.wait_for(pending, 30)
    assert client.applied == [], "an edit made for version 1 was sent for version 2"

    fix = await command_of(client, uri, "Fix this", line=3)  # asked again: applies, with its version checked
    result = plain(await asyncio.wait_for(run(client, fix), 30))
    assert result["applied"] is True and len(client.applied) == 1
    assert client.applied[0].changes[uri][0].new_text.splitlines()[2] == "    for v in values:"
