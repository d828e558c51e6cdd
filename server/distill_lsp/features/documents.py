"""Document sync: didOpen / didChange / didClose keep the session's DocumentStore, and a
newer edit stops the stale generation for that document.

A change to a document that is not open is logged and dropped. A change whose version is
not newer than the one held is dropped too, and the user is told once per document: the
editor and the server no longer agree on its text, so suggestions may land wrong until
the document is reopened.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.protocol import lsp_method

from ..document_store import Change, StaleVersion, UnknownDocument
from ..engine.types import StopReason
from ..uris import document_key
from . import workspace

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)


def register(server: DistillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: DistillLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.documents.open(doc.uri, doc.text, doc.version, doc.language_id)
        ls.stale_reported.discard(document_key(doc.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: DistillLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri, version = params.text_document.uri, params.text_document.version
        try:
            doc = ls.documents.change(uri, version, [_change(c) for c in params.content_changes])
        except UnknownDocument:
            logger.info("Ignoring didChange for %s: the document is not open", uri)
            return
        except StaleVersion as exc:
            _report_stale(ls, uri, exc)
            return
        ls.engine.cancel_key(doc.key, StopReason.SUPERSEDED)
        workspace.edited(ls, doc.path, doc.text, params.content_changes)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: DistillLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return
        ls.engine.cancel_key(doc.key, StopReason.SUPERSEDED)
        ls.documents.close(doc.key)
        ls.typed_ahead.forget(doc.key)
        ls.speculations.forget(doc.key)


def _change(change: types.TextDocumentContentChangeEvent) -> Change:
    if isinstance(change, types.TextDocumentContentChangePartial):
        r = change.range
        return ((r.start.line, r.start.character), (r.end.line, r.end.character)), change.text
    return None, change.text


def _report_stale(ls: DistillLanguageServer, uri: str, exc: StaleVersion) -> None:
    logger.warning("Ignoring didChange for %s: %s", uri, exc)
    key = document_key(uri)
    if key in ls.stale_reported:
        return
    ls.stale_reported.add(key)
    ls.show_message(f"distill-lsp: ignored an edit of {uri}: its version {exc.version} is not newer than "
                    f"{exc.held}; suggestions for this file may be wrong until it is reopened",
                    types.MessageType.Warning)


class StoreDocumentSync:
    """Mixed into `DistillProtocol`: didOpen / didChange / didClose only run the handlers
    above, which keep the session's `DocumentStore`.

    pygls' own built-ins would also keep a copy in its workspace: keyed by the unquoted URI,
    splitting lines at \\f and \\u2028 as editors do not, raising KeyError for a change to
    an unopened document and applying a stale version (fixes that belong upstream, in
    pygls.workspace). These replace them, so pygls' workspace holds no documents.
    """

    fm: Any

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None
