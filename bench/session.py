"""Asking the real server for one case over an LSP session: open the cut document, request
`textDocument/inlineCompletion` at the cursor, close it, and read back what would be inserted
and, where the server gives one, the suggestion's confidence."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path, PurePosixPath
from typing import Any

from lsprotocol import types

from .cases import Case

logger = logging.getLogger(__name__)

BENCH_ROOT = "file:///distill-bench"


def utf16_position(text: str, offset: int) -> types.Position:
    """LSP position (UTF-16 code units) of index `offset` in `text`."""
    line_start = text.rfind("\n", 0, offset) + 1
    character = len(text[line_start:offset].encode("utf-16-le")) // 2
    return types.Position(text.count("\n", 0, offset), character)


def utf16_offset(text: str, position: types.Position) -> int:
    """Index in `text` of an LSP position (UTF-16 code units); past the line's end means its end."""
    at = 0
    for _ in range(position.line):
        found = text.find("\n", at)
        if found < 0:
            return len(text)
        at = found + 1
    units = 0
    while at < len(text) and text[at] != "\n" and units < position.character:
        units += 2 if ord(text[at]) > 0xFFFF else 1
        at += 1
    return at


def _first_item(result: Any) -> types.InlineCompletionItem | None:
    items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
    return items[0] if items else None


def insertion(result: Any, text: str, offset: int) -> str:
    """What the first item would put after the cursor (an item may restate typed text before it)."""
    item = _first_item(result)
    if item is None:
        return ""
    insert = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
    if item.range is not None:
        typed = text[utf16_offset(text, item.range.start):offset]
        if typed and insert.startswith(typed):
            return insert[len(typed):]
    return insert


def confidence(result: Any) -> float | None:
    """The first item's confidence: its command's first argument, when that is an object with
    a number `confidence`; None when the server gives none."""
    item = _first_item(result)
    if item is None or item.command is None or not item.command.arguments:
        return None
    argument = item.command.arguments[0]
    value = argument.get("confidence") if isinstance(argument, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def case_uri(case: Case, index: int) -> str:
    """A path of its own per case, with the source's extension, not the real file."""
    return f"{BENCH_ROOT}/{index:04d}/{PurePosixPath(case.path).name}"


async def ask(client: Any, case: Case, index: int, automatic: bool,
              timeout: float, uri: str = "") -> tuple[str, float, float | None]:
    """The server's suggestion for `case`, the round trip in ms, and the confidence if given.
    The document is opened at `uri` (default: a bench uri of its own) and closed after."""
    uri, text = uri or case_uri(case, index), case.document
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id=case.language, version=1, text=text)))
    trigger = types.InlineCompletionTriggerKind.Automatic if automatic else types.InlineCompletionTriggerKind.Invoked
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=utf16_position(text, case.start),
        context=types.InlineCompletionContext(trigger_kind=trigger))
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(client.text_document_inline_completion_async(params), timeout)
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    return insertion(result, text, case.start), elapsed, confidence(result)


async def status(client: Any) -> dict[str, Any]:
    """The server's `distill.status`."""
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command="distill.status"))


async def switch_folder(client: Any, old: Path | None, new: Path, wait: bool) -> dict[str, Any]:
    """Make `new` the session's one workspace folder (in place of `old`) and, with `wait`,
    wait until its index is ready; the workspace part of the status."""
    event = types.WorkspaceFoldersChangeEvent(
        added=[types.WorkspaceFolder(uri=new.as_uri(), name=new.name)],
        removed=[types.WorkspaceFolder(uri=old.as_uri(), name=old.name)] if old else [])
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(event=event))
    for _ in range(1200):
        found = (await status(client))["workspace"]
        if not wait or (found["state"] == "ready" and found["folders"] == [str(new.resolve())]):
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the index of {new} was not ready")
