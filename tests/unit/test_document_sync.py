"""didChange as the protocol applies it: LSP line breaks only, unknown documents and stale
versions dropped, percent-encoded uris, huge documents left unparsed, the syntax gate's window."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types

from distill_lsp.completion.postprocess import gate_window
from distill_lsp.context.languages import detect_language
from distill_lsp.context.positions import replace_range
from distill_lsp.context.trees import MAX_PARSE_CHARS, TreeCache
from tests.fixtures.lsp_wire import initialize, make_server, notification


def session():
    server, protocol, writer = make_server()
    initialize(protocol)
    return server, protocol, writer


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
def test_only_lsp_line_breaks_count(eol: str, odd: str) -> None:
    server, protocol, _ = session()
    text = f"a{odd}b{eol}cd{eol}ef"
    open_(protocol, "file:///x.py", text)
    change(protocol, "file:///x.py", 2, (1, 1), (2, 1), "X")
    assert server.workspace.text_documents["file:///x.py"].source == f"a{odd}b{eol}cXf"


def test_unopened_document_change_is_dropped_without_error() -> None:
    server, protocol, writer = session()
    change(protocol, "file:///never.py", 2, (0, 0), (0, 0), "x")
    assert "file:///never.py" not in server.workspace.text_documents
    assert not [m for m in writer.messages() if m.get("method") == types.WINDOW_SHOW_MESSAGE]


def test_stale_versions_are_dropped_newer_ones_applied() -> None:
    server, protocol, _ = session()
    open_(protocol, "file:///s.py", "abc", version=5)
    change(protocol, "file:///s.py", 5, (0, 0), (0, 0), "stale")
    change(protocol, "file:///s.py", 4, (0, 0), (0, 0), "older")
    doc = server.workspace.text_documents["file:///s.py"]
    assert (doc.source, doc.version) == ("abc", 5)
    change(protocol, "file:///s.py", 6, (0, 3), (0, 3), "d")
    doc = server.workspace.text_documents["file:///s.py"]
    assert (doc.source, doc.version) == ("abcd", 6)


def test_percent_encoded_uri_is_found_by_the_server() -> None:
    from distill_lsp.server import create_server

    server = create_server()
    server.protocol.set_writer(type("W", (), {"write": lambda self, d: None, "close": lambda self: None})())
    initialize(server.protocol)
    uri = "file:///with%20space/a.py"
    open_(server.protocol, uri, "x = 1\n")
    change(server.protocol, uri, 2, (1, 0), (1, 0), "y")
    snap = server.snapshot(uri, types.Position(1, 1), automatic=False)
    assert snap is not None and snap.text == "x = 1\ny" and server.document_version(uri) == 2
    server.engine.close()


def test_replace_range_clamps() -> None:
    assert replace_range("ab\ncd", (0, 99), (7, 0), "!") == "ab!"
    assert replace_range("😀x", (0, 1), (0, 1), "!") == "!😀x"  # inside the pair: before it


def test_huge_documents_are_not_parsed() -> None:
    cache, lang = TreeCache(), detect_language("python", "file:///big.py")
    big = "x = 1\n" * (MAX_PARSE_CHARS // 6 + 1)
    cache.open("u", big, lang)
    assert cache.get("u")[1] is None
    cache.apply_change("u", (0, 0), (len(big), 0), "y = 2\n")  # shrinks: parsed again
    assert cache.get("u")[1] is not None


def test_gate_window() -> None:
    text = "".join(f"line {i}\n" for i in range(100_000))
    offset = text.index("line 50000\n") + 4
    window, at = gate_window(text, offset, chars=1000)
    assert len(window) <= 1100 and window[at:].startswith(" 50000")
    assert window.startswith("line ") and not window.endswith("\n")
    assert gate_window("short", 2) == ("short", 2)
