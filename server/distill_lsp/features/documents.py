"""Document sync side effects: a newer edit stops the stale generation for that document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..engine.types import StopReason

if TYPE_CHECKING:
    from ..server import DistillLanguageServer


def register(server: DistillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DistillLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.engine.cancel_key(params.text_document.uri, StopReason.SUPERSEDED)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DistillLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.engine.cancel_key(params.text_document.uri, StopReason.SUPERSEDED)
