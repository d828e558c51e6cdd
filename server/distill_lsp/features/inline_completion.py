"""textDocument/inlineCompletion: ghost text at the cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from .suggest import suggest

if TYPE_CHECKING:
    from ..server import DistillLanguageServer


def register(server: DistillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: DistillLanguageServer, params: types.InlineCompletionParams
                                ) -> types.InlineCompletionList:
        automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
        answer = await suggest(ls, params.text_document.uri, params.position, automatic)
        if answer is None:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(insert_text=answer.suggestion.text, range=answer.range)
        return types.InlineCompletionList(items=[item])
