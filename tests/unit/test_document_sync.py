"""Document sync into the server's DocumentStore: LSP line breaks only, unknown documents
dropped, stale versions dropped and reported once, every spelling of a URI finds its
document, huge documents left unparsed, the syntax gate's window."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types

from distill_lsp.completion.gate import gate_window
from distill_lsp.context.positions import replace_range
from distill_lsp.context.trees import MAX_PARSE_CHARS
from distill_lsp.document_store import DocumentStore
from distill_lsp.uris import document_key, file_name, to_path
from tests.fixtures.lsp_wire import initialize, make_distill_server, notification


@pytest.fixture
def session():
    server, protocol, writer = make_distill_server()
    initialize(protocol)
    yield server, protocol, writer
    server.engine.close()


def shown(writer) -> list[str]:
    return [m["params"]["message"] for m in writer.messages() if m.get("method") == types.WINDOW_SHOW_MESSAGE]


def send(protocol, method: str, params: dict) -> None:
    protocol.handle_body(json.dumps(notification(method, params)).encode())


def open_(protocol, uri: str, text: str, version: int = 1) -> None:
    send(protocol, types.TEXT_DOCUMENT_DID_OPEN,
         {"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": text}})


def change(protocol, uri: str, version: int, start, end, text: str) -> None:
    send(protocol, types.TEXT_DOCUMENT_DID_CHANGE, {"textDocument": {"uri": uri, "version": version},
         "contentChanges": [{"range": {"start": {"line": start[0], "character": start[1]},
                                       "end": {"line": end[0], "character": end[1]}}, "text": text}]})


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("odd", ["\x0c", "\x0b", "\x1c", "\x85", "\u2028", "\u2029"])
def test_only_lsp_line_breaks_count(session, eol: str, odd: str) -> None:
    server, protocol, _ = session
    text = f"a{odd}b{eol}cd{eol}ef"
    open_(protocol, "file:///x.py", text)
    change(protocol, "file:///x.py", 2, (1, 1), (2, 1), "X")
    assert server.documents.get("file:///x.py").text == f"a{odd}b{eol}cXf"


def test_unopened_document_change_is_dropped_without_error(session) -> None:
    server, protocol, writer = session
    change(protocol, "file:///never.py", 2, (0, 0), (0, 0), "x")
    assert server.documents.get("file:///never.py") is None
    assert shown(writer) == []


def test_stale_versions_are_dropped_and_reported_once(session) -> None:
    server, protocol, writer = session
    open_(protocol, "file:///s.py", "abc", version=5)
    change(protocol, "file:///s.py", 5, (0, 0), (0, 0), "stale")
    change(protocol, "file:///s.py", 4, (0, 0), (0, 0), "older")
    doc = server.documents.get("file:///s.py")
    assert (doc.text, doc.version) == ("abc", 5)
    messages = shown(writer)
    assert len(messages) == 1 and "version 5 is not newer than 5" in messages[0], messages
    change(protocol, "file:///s.py", 6, (0, 3), (0, 3), "d")
    doc = server.documents.get("file:///s.py")
    assert (doc.text, doc.version) == ("abcd", 6)
    assert len(shown(writer)) == 1


SPELLINGS = [
    ("file:///home/dev/proj/with%20space.py", "file:///home/dev/proj/with space.py", "/home/dev/proj/with space.py"),
    ("file:///c%3A/Users/dev/proj/win.py", "file:///C:/Users/dev/proj/win.py", "c:/Users/dev/proj/win.py"),
    ("file:///home/dev/caf%C3%A9/%E6%97%A5%E6%9C%AC.py", "file:///home/dev/café/日本.py", "/home/dev/café/日本.py"),
    ("file:///battery/a%2Bb.py", "file:///battery/a+b.py", "/battery/a+b.py"),
    ("untitled:Untitled-1", "untitled:Untitled-1", "Untitled-1"),
]


@pytest.mark.parametrize(("encoded", "plain", "path"), SPELLINGS)
def test_one_key_and_one_path_for_every_spelling_of_a_uri(encoded: str, plain: str, path: str) -> None:
    assert document_key(encoded) == document_key(plain)
    assert to_path(encoded) == to_path(plain) == path
    assert file_name(encoded) == path.rsplit("/", 1)[-1]


@pytest.mark.parametrize(("encoded", "plain", "path"), SPELLINGS)
def test_every_spelling_finds_the_document(session, encoded: str, plain: str, path: str) -> None:
    server, protocol, _ = session
    open_(protocol, encoded, "x = 1\n")
    change(protocol, plain, 2, (1, 0), (1, 0), "y")
    for uri in (encoded, plain):
        snap = server.snapshot(uri, types.Position(1, 1), automatic=False)
        assert snap is not None and snap.text == "x = 1\ny" and server.documents.version(uri) == 2
        assert snap.path == path
    assert server.documents.get(plain).uri == encoded, "edits name the document as the client opened it"


def test_replace_range_clamps() -> None:
    assert replace_range("ab\ncd", (0, 99), (7, 0), "!") == "ab!"
    assert replace_range("😀x", (0, 1), (0, 1), "!") == "!😀x"  # inside the pair: before it


def test_huge_documents_are_not_parsed() -> None:
    store = DocumentStore()
    big = "x = 1\n" * (MAX_PARSE_CHARS // 6 + 1)
    store.open("file:///big.py", big, 1, "python")
    assert store.get("file:///big.py").tree is None
    store.change("file:///big.py", 2, [(((0, 0), (len(big), 0)), "y = 2\n")])  # shrinks: parsed again
    assert store.get("file:///big.py").tree is not None


def test_gate_window() -> None:
    text = "".join(f"line {i}\n" for i in range(100_000))
    offset = text.index("line 50000\n") + 4
    window, at = gate_window(text, offset, chars=1000)
    assert len(window) <= 1100 and window[at:].startswith(" 50000")
    assert window.startswith("line ") and not window.endswith("\n")
    assert gate_window("short", 2) == ("short", 2)
