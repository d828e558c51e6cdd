"""textDocument/codeAction, codeAction/resolve and the distill.explain / distill.fix /
distill.document commands.

Listing is instant and model-free. Fix and Document run the model in codeAction/resolve
for clients that can resolve `edit`; for the others (Emacs eglot 1.9 never resolves)
each action carries a command, run through workspace/executeCommand, which applies its
edit with workspace/applyEdit. Explain produces no edit, so it is always a command.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..actions.offers import Offer, list_offers
from ..actions.prompts import ActionKind
from ..document_store import Document
from .action_runner import ActionData, deliver_explanation, edit_for, perform, refuse

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)

KINDS = {ActionKind.EXPLAIN: "refactor.distill.explain", ActionKind.FIX: "quickfix.distill.fix",
         ActionKind.DOCUMENT: "refactor.rewrite.distill.document"}
COMMANDS = {ActionKind.EXPLAIN: "distill.explain", ActionKind.FIX: "distill.fix",
            ActionKind.DOCUMENT: "distill.document"}
OPTIONS = types.CodeActionOptions(code_action_kinds=list(KINDS.values()), resolve_provider=True)


def register(server: DistillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, OPTIONS)
    def code_action(ls: DistillLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return None
        r = params.range
        start, end = doc.offset_at(r.start.line, r.start.character), doc.offset_at(r.end.line, r.end.character)
        offers = list_offers(doc.text, start, end, doc.lang, bool(params.context.diagnostics), doc.tree)
        diagnostics = tuple(d.message for d in params.context.diagnostics)
        return [to_code_action(ls, o, doc, diagnostics) for o in offers if wanted(KINDS[o.kind], params.context.only)]

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(ls: DistillLanguageServer, action: types.CodeAction) -> types.CodeAction:
        if action.data is None or action.edit is not None or action.command is not None:
            return action
        data = ActionData.from_json(action.data)
        if data.kind is ActionKind.EXPLAIN:
            refuse(ls, "Explain runs as a command, not through codeAction/resolve")
        action.edit = edit_for(ls, data, await perform(ls, data))
        return action

    # pygls resolves command handlers' annotations at call time: `ls` stays `Any` there.
    @server.command(COMMANDS[ActionKind.EXPLAIN])
    async def explain(ls: Any, *args: Any) -> dict[str, Any]:
        data = _data(args, ActionKind.EXPLAIN)
        performed = await perform(ls, data)
        path = await deliver_explanation(ls, data, performed.output.markdown or "")
        return {"path": str(path), "markdown": performed.output.markdown, **_stats(performed.output)}

    async def apply(ls: DistillLanguageServer, args: tuple[Any, ...], kind: ActionKind) -> dict[str, Any]:
        data = _data(args, kind)
        performed = await perform(ls, data)
        edit = edit_for(ls, data, performed)
        answer = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(
            edit=edit, label=f"distill-lsp: {kind.value}"))
        if not answer.applied:
            ls.show_message(f"distill-lsp: the editor did not apply the {kind.value}: "
                            f"{answer.failure_reason or 'no reason given'}", types.MessageType.Warning)
        return {"applied": answer.applied, **_stats(performed.output)}

    @server.command(COMMANDS[ActionKind.FIX])
    async def fix(ls: Any, *args: Any) -> dict[str, Any]:
        return await apply(ls, args, ActionKind.FIX)

    @server.command(COMMANDS[ActionKind.DOCUMENT])
    async def document(ls: Any, *args: Any) -> dict[str, Any]:
        return await apply(ls, args, ActionKind.DOCUMENT)


def _data(args: tuple[Any, ...], kind: ActionKind) -> ActionData:
    data = ActionData.from_json(args[0] if args else {})
    if data.kind is not kind:
        raise JsonRpcException(f"{COMMANDS[kind]} got data for {data.kind.value}", code=-32602)
    return data


def _stats(result: Any) -> dict[str, Any]:
    return {"newTokens": result.new_tokens, "promptTokens": result.prompt_tokens,
            "reasoningCapped": result.reasoning_capped, "stopReason": result.stop_reason}


def wanted(kind: str, only: Any) -> bool:
    """Whether `kind` passes the client's `context.only` filter (hierarchical prefixes)."""
    if not only:
        return True
    return any(kind == o or kind.startswith(f"{o}.") or o == "" for o in only)


def resolves_edit(ls: DistillLanguageServer) -> bool:
    """True when the client resolves a code action's `edit` lazily."""
    td = ls.client_capabilities.text_document
    support = td.code_action.resolve_support if td and td.code_action else None
    return bool(support and "edit" in support.properties)


def to_code_action(ls: DistillLanguageServer, offer: Offer, doc: Document,
                   diagnostics: tuple[str, ...]) -> types.CodeAction:
    start, end = doc.position_at(offer.target.start), doc.position_at(offer.target.end)
    rng = types.Range(types.Position(*start), types.Position(*end))
    data = ActionData(doc.uri, rng, doc.version, offer.kind,
                      diagnostics if offer.kind is ActionKind.FIX else ()).to_json()
    action = types.CodeAction(title=offer.title, kind=KINDS[offer.kind], data=data,
                              is_preferred=offer.kind is ActionKind.FIX or None)
    if offer.kind is ActionKind.EXPLAIN or not resolves_edit(ls):
        action.command = types.Command(title=offer.title, command=COMMANDS[offer.kind], arguments=[data])
    return action
