"""Battery, documents: odd positions, unknown documents, stale edits, huge and strange
text, against the real server and the bundled model. After every case a normal
completion still works."""

from __future__ import annotations

import itertools
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.helpers import SERVER_CMD, init_params, inline_params, open_doc, wait_ready

OPTIONS = {"profile": "greedy", "maxNewTokens": 6, "contextTokens": 256}
ADD = "def add(a, b):\n    return "
AT_ADD = types.Position(1, 11)
_names = itertools.count()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(init_params(OPTIONS))
    status = await wait_ready(lsp_client)
    assert status["state"] == "ready", status
    yield
    await lsp_client.shutdown_session()


def fresh_uri(name: str = "doc") -> str:
    return f"file:///battery/{name}-{next(_names)}.py"


async def complete(client: LanguageClient, uri: str, pos: types.Position) -> types.InlineCompletionList:
    return await client.text_document_inline_completion_async(inline_params(uri, pos))


async def assert_alive(client: LanguageClient) -> None:
    """A normal completion on a new document gets a real suggestion."""
    uri = fresh_uri("alive")
    open_doc(client, uri, ADD)
    result = await complete(client, uri, AT_ADD)
    assert len(result.items) == 1 and result.items[0].insert_text.strip(), result
    assert result.items[0].range.start == AT_ADD


def change(client: LanguageClient, uri: str, version: int, start: tuple[int, int], end: tuple[int, int],
           text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(*start), types.Position(*end)), text=text)]))


def error_messages(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


async def test_positions_past_the_end_are_clamped(client: LanguageClient) -> None:
    uri = fresh_uri()
    open_doc(client, uri, ADD)
    for pos in (types.Position(1, 500), types.Position(40, 3)):
        result = await complete(client, uri, pos)
        assert len(result.items) == 1
        assert result.items[0].range.start == AT_ADD, "clamped to the end of the line / document"
    await assert_alive(client)


@pytest.mark.parametrize("field", ["line", "character"])
async def test_negative_positions_are_invalid_params(client: LanguageClient, field: str) -> None:
    uri = fresh_uri()
    open_doc(client, uri, ADD)
    position = types.Position(0, 3)
    object.__setattr__(position, field, -1)  # lsprotocol refuses to build one; a client may still send it
    with pytest.raises(JsonRpcInvalidParams):
        await client.text_document_inline_completion_async(inline_params(uri, position))
    with pytest.raises(JsonRpcInvalidParams):
        await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=position))
    await assert_alive(client)


async def test_never_opened_uri_answers_empty(client: LanguageClient) -> None:
    inline = await complete(client, "file:///battery/never-opened.py", AT_ADD)
    assert list(inline.items) == []
    classic = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier("file:///etc/passwd"), position=types.Position(0, 0)))
    assert list(classic.items) == []
    await assert_alive(client)


async def test_did_change_on_unopened_uri_is_ignored(client: LanguageClient) -> None:
    uri = fresh_uri("unopened")
    change(client, uri, 2, (0, 0), (0, 0), "x = 1\n")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=3),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text="y = 2\n")]))
    assert list((await complete(client, uri, types.Position(0, 5))).items) == []
    await assert_alive(client)
    assert error_messages(client) == [], "no 'Error in server' message"


async def test_stale_version_is_ignored(client: LanguageClient) -> None:
    uri = fresh_uri("stale")
    open_doc(client, uri, ADD, version=5)
    change(client, uri, 5, (0, 0), (0, 0), "# stale\n")  # not newer: dropped
    change(client, uri, 3, (0, 0), (0, 0), "# older\n")
    result = await complete(client, uri, AT_ADD)
    assert len(result.items) == 1 and result.items[0].range.start == AT_ADD
    # a newer version still applies: the cursor's line moves down by one
    change(client, uri, 6, (0, 0), (0, 0), "import os\n")
    moved = await complete(client, uri, types.Position(2, 11))
    assert len(moved.items) == 1 and moved.items[0].range.start == types.Position(2, 11)
    await assert_alive(client)


async def test_percent_encoded_uri(client: LanguageClient) -> None:
    uri = "file:///battery/with%20space/a%2Bb.py"
    open_doc(client, uri, ADD)
    result = await complete(client, uri, AT_ADD)
    assert len(result.items) == 1 and result.items[0].insert_text.strip()


async def test_five_megabyte_document_answers_in_bounded_time(client: LanguageClient) -> None:
    uri = fresh_uri("huge")
    filler = "x = 1  # filler line of some length to make megabytes\n"
    text = filler * (5_000_000 // len(filler) + 1) + ADD
    assert len(text) >= 5_000_000
    open_doc(client, uri, text)
    last = text.count("\n")
    started = time.monotonic()
    result = await complete(client, uri, types.Position(last, 11))
    first_s = time.monotonic() - started
    assert len(result.items) == 1 and result.items[0].range.start == types.Position(last, 11)
    change(client, uri, 2, (0, 0), (0, 0), "y = 2\n")  # an edit at the top, far from the cursor
    started = time.monotonic()
    result = await complete(client, uri, types.Position(last + 1, 11))
    assert len(result.items) == 1 and result.items[0].range.start == types.Position(last + 1, 11)
    # The prompt is a window of contextTokens around the cursor, whatever the size of the file.
    assert max(first_s, time.monotonic() - started) < 60
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    await assert_alive(client)


async def test_nul_bytes(client: LanguageClient) -> None:
    uri = fresh_uri("nul")
    open_doc(client, uri, "a = '\x00\x00'\n" + ADD)
    result = await complete(client, uri, types.Position(2, 11))
    assert len(result.items) == 1 and result.items[0].range.start == types.Position(2, 11)
    await assert_alive(client)


async def test_lone_surrogate_does_not_poison_other_documents(client: LanguageClient) -> None:
    uri = fresh_uri("surrogate")
    open_doc(client, uri, "s = '\ud800'  # a lone surrogate, legal in JSON\n" + ADD)  # sent as \\ud800
    result = await complete(client, uri, types.Position(2, 11))
    assert len(result.items) == 1 and result.items[0].range.start == types.Position(2, 11)
    await assert_alive(client)  # the open surrogate document feeds this prompt as a neighbour
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))


@pytest.mark.parametrize("eol", ["\r\n", "\r", "\n\x0c", "\n\u2028"], ids=["crlf", "cr", "formfeed", "u2028"])
async def test_line_endings(client: LanguageClient, eol: str) -> None:
    uri = fresh_uri("eol")
    text = f"# one{eol}# two{eol}{ADD.replace(chr(10), eol)}"
    open_doc(client, uri, text)
    change(client, uri, 2, (3, 11), (3, 11), "a")  # LSP lines end only at \r\n, \r, \n
    result = await complete(client, uri, types.Position(3, 12))
    for item in result.items:
        assert item.range.start == types.Position(3, 12)
        assert not item.insert_text.startswith("return"), "the edit landed on the wrong line"
    await assert_alive(client)


async def test_emoji_and_cjk_ranges_in_utf16(client: LanguageClient) -> None:
    uri = fresh_uri("emoji")
    line = '    label = "日本語 😀🎉 中文" + '
    open_doc(client, uri, f"def title():\n{line}")
    character = len(line.encode("utf-16-le")) // 2
    assert character == len(line) + 2  # two astral emoji, two UTF-16 units each
    result = await complete(client, uri, types.Position(1, character))
    for item in result.items:
        assert item.range.start == item.range.end == types.Position(1, character)
    # an edit after the emoji, addressed in UTF-16 units, lands where it should
    change(client, uri, 2, (1, character), (1, character), "str(")
    result = await complete(client, uri, types.Position(1, character + 4))
    for item in result.items:
        assert item.range.start == types.Position(1, character + 4)
    await assert_alive(client)
