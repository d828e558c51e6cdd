"""textDocument/completion: the same suggestion as one item, for clients without inline support."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from .suggest import suggest

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

LABEL_CHARS = 40


def register(server: DistillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: DistillLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        invoked = params.context is not None and params.context.trigger_kind == types.CompletionTriggerKind.Invoked
        answer = await suggest(ls, params.text_document.uri, params.position, automatic=not invoked)
        if answer is None:
            return types.CompletionList(is_incomplete=True, items=[])
        text = answer.suggestion.text
        item = types.CompletionItem(
            label=label_for(text),
            kind=types.CompletionItemKind.Snippet,
            detail=f"distill-lsp · {answer.model_name}",
            documentation=_documentation(ls, text),
            text_edit=types.TextEdit(range=answer.range, new_text=text),
            insert_text_format=types.InsertTextFormat.PlainText,
            filter_text=text,
            sort_text="0",
            preselect=True,
        )
        return types.CompletionList(is_incomplete=True, items=[item])


def label_for(text: str) -> str:
    """The first line of the suggestion, shortened for the completion menu."""
    first = text.strip().split("\n", 1)[0]
    more = "…" if len(first) > LABEL_CHARS or "\n" in text.strip() else ""
    return first[:LABEL_CHARS] + more


def _documentation(ls: DistillLanguageServer, text: str) -> types.MarkupContent | str:
    """The whole suggestion, as markdown where the client renders it."""
    td = ls.client_capabilities.text_document
    item = td.completion.completion_item if td and td.completion else None
    if item and item.documentation_format and types.MarkupKind.Markdown in item.documentation_format:
        return types.MarkupContent(types.MarkupKind.Markdown, f"```\n{text}\n```")
    return text
