"""textDocument/inlineCompletion: ghost text at the cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from .accepts import accept_command
from .suggest import speculate, suggest

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
        suggestion, lang = answer.suggestion, answer.snapshot.lang
        item_id = f"{ls.session_id}-{ls.next_request_id()}"
        ls.suggestion_stats.shown(item_id, suggestion.profile or ls.settings.profile, lang.name if lang else "text",
                                  suggestion.text)
        item = types.InlineCompletionItem(insert_text=suggestion.text, range=answer.range,
                                          command=accept_command(item_id, suggestion.confidence))
        speculate(ls, answer, item_id)
        return types.InlineCompletionList(items=[item])
