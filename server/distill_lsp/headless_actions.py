"""Headless `distill-lsp explain FILE:START-END` and `distill-lsp fix FILE:LINE`.

Each drives a real stdio session like an editor without codeAction/resolve would: ask
for the code actions of the range, execute the chosen action's command, and answer the
server's window/showDocument (Explain) and workspace/applyEdit (Fix) requests. The
explanation is printed as markdown, the fix as a unified diff; the file is not changed.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any, Union

from lsprotocol import types

from .actions.edits import unified_diff
from .context.positions import offset_at
from .headless import (HeadlessClient, HeadlessError, close_session, language_id, lsp_position,
                       open_session, run_headless)
from .uris import to_path

CAPABILITIES = types.ClientCapabilities(
    window=types.WindowClientCapabilities(
        work_done_progress=True, show_document=types.ShowDocumentClientCapabilities(support=True)),
    workspace=types.WorkspaceClientCapabilities(apply_edit=True),
    text_document=types.TextDocumentClientCapabilities(code_action=types.CodeActionClientCapabilities()),
)


def fix_code_action_union(converter: Any) -> None:
    """Read listed code actions as CodeAction when their `command` is an object.

    lsprotocol 2025.0.0 structures any item with a `command` key as a Command, so a
    CodeAction carrying a command arrives as a Command whose `command` is a dict's repr.
    """
    def hook(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)


def parse_span(text: str, with_end: bool) -> tuple[Path, int, int]:
    """FILE:START-END (with_end) or FILE:LINE, 1-based lines -> (path, first, last)."""
    path, sep, lines = text.rpartition(":")
    first, dash, last = lines.partition("-")
    if not sep or not first.isdigit() or (dash and not last.isdigit()) or (dash and not with_end):
        raise HeadlessError(f"expected {'FILE:START-END' if with_end else 'FILE:LINE'} (1-based), got {text!r}")
    start, end = int(first), int(last or first)
    if start < 1 or end < start:
        raise HeadlessError(f"lines are 1-based and START <= END, got {lines}")
    return Path(path), start, end


def read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HeadlessError(f"cannot read {path}: {exc}") from exc


def line_range(text: str, first: int, last: int, whole: bool) -> types.Range:
    """Lines first..last (1-based, LSP line breaks only) as an LSP range; `whole=False` gives a
    cursor at the line start."""
    end = lsp_position(text, last, len(text) + 1) if whole else lsp_position(text, first, 1)
    return types.Range(lsp_position(text, first, 1), end)


def apply_workspace_edit(text: str, uri: str, edit: types.WorkspaceEdit) -> str:
    """`text` with the edits of `edit` for `uri` applied (last first, so offsets hold)."""
    edits = list((edit.changes or {}).get(uri, []))
    for change in edit.document_changes or []:
        if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
            edits += [e for e in change.edits if isinstance(e, types.TextEdit)]
    spans = [(offset_at(text, e.range.start.line, e.range.start.character),
              offset_at(text, e.range.end.line, e.range.end.character), e.new_text) for e in edits]
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


async def _run_action(args: argparse.Namespace, options: dict[str, Any], kind: str, rng: types.Range,
                      path: Path, text: str, diagnostics: list[types.Diagnostic]) -> tuple[HeadlessClient, Any]:
    language = args.language or language_id(path)
    client = await open_session(options, args.verbose, args.timeout, CAPABILITIES)
    fix_code_action_union(client.protocol._converter)
    try:
        uri = path.resolve().as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            types.TextDocumentIdentifier(uri), rng, types.CodeActionContext(diagnostics=diagnostics)))
        chosen = [c for c in map(_command_of, actions or []) if c is not None and c.command == f"distill.{kind}"]
        if not chosen:
            why = " (no syntax error there; pass --diagnostic MESSAGE)" if kind == "fix" else ""
            raise HeadlessError(f"no {kind} action offered for {path}:{rng.start.line + 1}{why}")
        command = chosen[0]
        result = await asyncio.wait_for(client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=command.command, arguments=command.arguments)), args.timeout)
    except Exception as exc:
        await close_session(client)
        if isinstance(exc, (HeadlessError, TimeoutError)):
            raise
        raise HeadlessError(str(getattr(exc, "message", exc))) from exc
    await close_session(client)
    return client, result


async def _explain(args: argparse.Namespace, options: dict[str, Any]) -> int:
    path, first, last = parse_span(args.location, with_end=True)
    text = read(path)
    client, result = await _run_action(args, options, "explain", line_range(text, first, last, True), path, text, [])
    shown = client.session.shown
    markdown = Path(to_path(shown[-1])).read_text(encoding="utf-8") if shown else (result or {}).get("markdown")
    print(markdown or "")
    return 0 if markdown else 3


async def _fix(args: argparse.Namespace, options: dict[str, Any]) -> int:
    path, line, _ = parse_span(args.location, with_end=False)
    text = read(path)
    rng = line_range(text, line, line, False)
    diagnostics = [types.Diagnostic(line_range(text, line, line, True), message) for message in args.diagnostic]
    client, _ = await _run_action(args, options, "fix", rng, path, text, diagnostics)
    if not client.session.edits:
        raise HeadlessError("the server sent no edit")
    new = apply_workspace_edit(text, path.resolve().as_uri(), client.session.edits[-1])
    print(unified_diff(str(path), text, new), end="")
    return 0


def _command_of(item: types.Command | types.CodeAction) -> types.Command | None:
    """The command of a listed item (a CodeAction with a command reads as a Command too)."""
    return item.command if isinstance(item, types.CodeAction) else item


def run_action_command(args: argparse.Namespace, options: dict[str, Any]) -> int:
    """Entry point of `explain` and `fix`."""
    main = _explain(args, options) if args.command == "explain" else _fix(args, options)
    return run_headless(main, args.timeout)
