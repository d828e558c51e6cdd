"""End to end over stdio with the real server and the real bundled SmolLM2."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.helpers import (SERVER_CMD, UNFINISHED_PY, end_of, init_params, inline_params, open_doc,
                           wait_ready, wait_until_engine_holds_a_job)

OPTIONS = {"profile": "greedy", "maxNewTokens": 32}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def client(lsp_client: LanguageClient):
    result = await lsp_client.initialize_session(init_params(OPTIONS))
    lsp_client.init_result = result
    lsp_client.status = await wait_ready(lsp_client)
    yield
    await lsp_client.shutdown_session()


def test_capabilities(client: LanguageClient) -> None:
    caps = client.init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    assert client.status["state"] == "ready"
    assert "SmolLM2" in client.status["model"]


def test_model_load_reported_with_progress(client: LanguageClient) -> None:
    kinds = [p.kind for reports in client.progress_reports.values() for p in reports]
    assert kinds[0] == "begin" and kinds[-1] == "end"


async def test_inline_completion_continues_function(client: LanguageClient, tmp_path) -> None:
    uri = (tmp_path / "fib.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    pos = end_of(UNFINISHED_PY)
    result = await client.text_document_inline_completion_async(inline_params(uri, pos))
    assert isinstance(result, types.InlineCompletionList)
    assert len(result.items) == 1
    item = result.items[0]
    text = item.insert_text
    assert text.strip(), "empty suggestion"
    assert item.range.start == pos and item.range.end == pos
    # it continues the body: code on the cursor's line, more lines at least as indented
    first, *rest = text.split("\n")
    assert not first.startswith(" "), "the cursor already stands at the indentation"
    assert all(not line.strip() or line.startswith("    ") for line in rest)
    # the classic completion of the same point gives the same (greedy) suggestion
    classic = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=pos,
        context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked)))
    assert len(classic.items) == 1
    assert classic.items[0].text_edit.new_text == text
    assert classic.items[0].text_edit.range.start == pos
    assert "SmolLM2" in classic.items[0].detail


async def test_utf16_range_after_emoji_and_cjk(client: LanguageClient, tmp_path) -> None:
    uri = (tmp_path / "emoji.py").as_uri()
    text = 'def greet(name):\n    """Say hello in 日本😀語."""\n    return "日本😀語, hello " + '
    open_doc(client, uri, text)
    line = text.split("\n")[2]
    pos = types.Position(2, len(line.encode("utf-16-le")) // 2)
    assert pos.character == len(line) + 1  # the emoji is two UTF-16 units
    result = await client.text_document_inline_completion_async(inline_params(uri, pos))
    assert len(result.items) == 1, "no suggestion: the range check below would prove nothing"
    assert result.items[0].range.start == pos and result.items[0].range.end == pos
    # A position inside the surrogate pair is clamped before the emoji, not past it.
    inside = types.Position(2, line.index("😀") + 1)
    assert inside.character < pos.character
    classic = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=inside))
    for item in classic.items:  # mid-line inside a string: the server may rightly skip
        assert item.text_edit.range.start.character == line.index("😀")


async def test_unopened_document_answers_empty(client: LanguageClient) -> None:
    result = await client.text_document_inline_completion_async(
        inline_params("file:///nowhere/never-opened.py", types.Position(0, 0)))
    assert list(result.items) == []


async def test_cancel_running_generation(client: LanguageClient, tmp_path) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"distill": {"maxNewTokens": 1024, "maxLines": 500}}))
    uri = (tmp_path / "long.py").as_uri()
    text = "# The numbers from one to one thousand, one per line:\nnumbers = [\n    1,\n    2,\n    3,\n"
    open_doc(client, uri, text)
    try:
        future = asyncio.ensure_future(client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, end_of(text)), msg_id="long-1"))
        # cancel as soon as the engine holds the job (queued or generating): with prefix
        # reuse and int4 weights a fixed wait could outlast the whole generation
        await wait_until_engine_holds_a_job(client, future)
        cancelled_at = time.monotonic()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-1"))
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(future, 20)
        assert "cancel" in str(info.value).lower()
        assert time.monotonic() - cancelled_at < 10, "cancellation did not stop the generation"
    finally:
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"distill": {"maxNewTokens": 32, "maxLines": 12}}))
    # the next request still works
    result = await client.text_document_inline_completion_async(
        inline_params((tmp_path / "fib.py").as_uri(), end_of(UNFINISHED_PY)))
    assert isinstance(result, types.InlineCompletionList)


async def test_superseded_request_is_answered_empty(client: LanguageClient, tmp_path) -> None:
    uri = (tmp_path / "super.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    pos = end_of(UNFINISHED_PY)
    first = client.text_document_inline_completion_async(inline_params(uri, pos))
    second = client.text_document_inline_completion_async(inline_params(uri, pos))
    one, two = await asyncio.wait_for(asyncio.gather(first, second), 60)
    assert list(one.items) == []
    assert len(two.items) == 1 and two.items[0].insert_text.strip()


async def test_edit_during_generation_answers_empty(client: LanguageClient, tmp_path) -> None:
    uri = (tmp_path / "edit.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    pending = asyncio.ensure_future(
        client.text_document_inline_completion_async(inline_params(uri, end_of(UNFINISHED_PY))))
    await wait_until_engine_holds_a_job(client, pending)  # a fixed wait can outlast the job
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(end_of(UNFINISHED_PY), end_of(UNFINISHED_PY)), text="i")]))
    result = await asyncio.wait_for(pending, 60)
    assert list(result.items) == []


async def test_an_accepted_suggestion_is_counted_from_its_command(client: LanguageClient, tmp_path) -> None:
    """Each item carries `distill.accepted` with its id and the model's confidence; the
    editor runs it on accept, and distill.status counts shown and accepted (in memory)."""
    uri = (tmp_path / "accept.py").as_uri()
    open_doc(client, uri, UNFINISHED_PY)
    result = await client.text_document_inline_completion_async(inline_params(uri, end_of(UNFINISHED_PY)))
    assert len(result.items) == 1
    command = result.items[0].command
    assert command is not None and command.command == "distill.accepted"
    argument = command.arguments[0]
    assert isinstance(argument["id"], str) and 0.0 < argument["confidence"] <= 1.0

    def counts(status: dict) -> tuple[int, int]:
        rows = [r for r in status["suggestions"] if r["language"] == "python"]
        return sum(r["shown"] for r in rows), sum(r["accepted"] for r in rows)

    before = counts(await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="distill.status")))
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=command.command, arguments=command.arguments))
    await client.workspace_execute_command_async(types.ExecuteCommandParams(  # a repeat counts once
        command=command.command, arguments=command.arguments))
    after = counts(await client.workspace_execute_command_async(types.ExecuteCommandParams(command="distill.status")))
    assert after == (before[0], before[1] + 1) and after[0] >= after[1] >= 1


async def _status(client: LanguageClient) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="distill.status"))


async def _shown_item(client: LanguageClient, uri: str) -> types.InlineCompletionItem:
    """The inline item shown at the end of a fresh document holding UNFINISHED_PY."""
    open_doc(client, uri, UNFINISHED_PY)
    result = await client.text_document_inline_completion_async(inline_params(uri, end_of(UNFINISHED_PY)))
    assert len(result.items) == 1
    return result.items[0]


def _accept(client: LanguageClient, uri: str, item: types.InlineCompletionItem) -> str:
    """Insert `item` as an editor does (version 2); the document's text after it."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(range=item.range, text=item.insert_text)]))
    return UNFINISHED_PY + item.insert_text


async def test_the_request_after_an_accept_is_answered_from_the_speculation(client: LanguageClient, tmp_path) -> None:
    """Accept chain: the suggestion is shown, the engine computes the next one while idle, the
    editor inserts the item and runs its command, and the request at the new cursor is
    answered from that speculation (no generation); the accept is counted once."""
    uri = (tmp_path / "chain.py").as_uri()
    item = await _shown_item(client, uri)
    before = (await _status(client))["speculation"]
    for _ in range(600):  # the speculation runs while the engine is idle
        if (await _status(client))["speculation"]["ready"]:
            break
        await asyncio.sleep(0.1)
    text = _accept(client, uri, item)
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=item.command.command, arguments=item.command.arguments))
    second = await client.text_document_inline_completion_async(inline_params(uri, end_of(text)))
    after = (await _status(client))["speculation"]
    assert after["enabled"] and after["started"] > before["started"]
    assert after["used"] == before["used"] + 1, after
    assert len(second.items) <= 1
    rows = [r for r in (await _status(client))["suggestions"] if r["language"] == "python"]
    assert sum(r["accepted"] for r in rows) >= 1


async def test_an_accept_without_the_command_is_seen_in_the_document(client: LanguageClient, tmp_path) -> None:
    uri = (tmp_path / "silent.py").as_uri()
    item = await _shown_item(client, uri)

    def accepted(status: dict) -> int:
        return sum(r["accepted"] for r in status["suggestions"] if r["language"] == "python")

    before = accepted(await _status(client))
    text = _accept(client, uri, item)
    await client.text_document_inline_completion_async(inline_params(uri, end_of(text)))  # no command ran
    assert accepted(await _status(client)) == before + 1
    await client.workspace_execute_command_async(types.ExecuteCommandParams(  # a late command: still one
        command=item.command.command, arguments=item.command.arguments))
    assert accepted(await _status(client)) == before + 1


async def test_copilot_show_and_partial_accept_notifications_are_counted(client: LanguageClient, tmp_path) -> None:
    item = await _shown_item(client, (tmp_path / "partial.py").as_uri())
    shape = {"insertText": item.insert_text, "command": {"title": item.command.title, "command": item.command.command,
                                                         "arguments": item.command.arguments}}

    def counts(status: dict) -> tuple[int, int, int]:
        rows = [r for r in status["suggestions"] if r["language"] == "python"]
        return tuple(sum(r[k] for r in rows) for k in ("displayed", "partialAccepts", "partialChars"))

    before = counts(await _status(client))
    client.protocol.notify("textDocument/didShowCompletion", {"item": shape})
    client.protocol.notify("textDocument/didPartiallyAcceptCompletion", {"item": shape, "acceptedLength": 1})
    client.protocol.notify("textDocument/didPartiallyAcceptCompletion", {"item": "garbage"})  # ignored
    for _ in range(50):
        now = counts(await _status(client))
        if now != before:
            break
        await asyncio.sleep(0.05)
    assert now == (before[0] + 1, before[1] + 1, before[2] + 1)


async def test_a_mid_word_request_finishes_the_word_without_repeating_it(client: LanguageClient, tmp_path) -> None:
    """Token healing over stdio: the cursor stands right after `a_pa`, the start of a name the
    document defines. The server cuts the partial word off the prompt, has the model begin
    with it and shows only what follows: applied, the item finishes the name with `a_pa`
    written once (not `a_paa_path`). Without the cut the prompt ends inside a token and
    the model takes `a_pa` for a whole name (`a_pa.path)`)."""
    uri = (tmp_path / "heal.py").as_uri()
    text = "import os\n\ndef size(a_path):\n    return os.stat(a_pa"
    open_doc(client, uri, text)
    result = await client.text_document_inline_completion_async(inline_params(uri, end_of(text)))
    assert len(result.items) == 1
    item = result.items[0]
    lines = text.split("\n")
    start, end = item.range.start, item.range.end
    head = "\n".join(lines[:start.line] + [lines[start.line][:start.character]])
    tail = "\n".join([lines[end.line][end.character:]] + lines[end.line + 1:])
    line = (head + item.insert_text + tail).split("\n")[3]
    assert line.startswith("    return os.stat(a_path"), line
    assert line.count("a_pa") == 1, line
