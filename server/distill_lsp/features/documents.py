"""Document sync side effects: the parse cache follows every edit, and a newer edit stops
the stale generation for that document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..engine.types import StopReason

if TYPE_CHECKING:
    from ..server import DistillLanguageServer


def register(server: DistillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DistillLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.open_document(doc.uri, doc.text, doc.language_id)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DistillLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.engine.cancel_key(uri, StopReason.SUPERSEDED)
        if ls.trees.get(uri) is None:
            return  # never opened: pygls ignored the change too
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                r = change.range
                ls.trees.apply_change(uri, (r.start.line, r.start.character), (r.end.line, r.end.character),
                                      change.text)
            else:
                ls.trees.replace(uri, change.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DistillLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.engine.cancel_key(uri, StopReason.SUPERSEDED)
        ls.trees.close(uri)
        ls.typed_ahead.forget(uri)
        ls.context_memory.pop(uri, None)
