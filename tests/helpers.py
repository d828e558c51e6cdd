"""Helpers for end-to-end tests: server command, client capabilities, documents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types

from distill_lsp.json_data import to_json_data

SERVER_CMD = [sys.executable, "-m", "distill_lsp", "serve", "--log-level", "debug"]


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """End a server a test started: SIGTERM, then SIGKILL if it is still there after `timeout` s."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def capabilities(*, progress: bool = True, inline: bool = True) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=progress),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities() if inline else None,
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(snippet_support=False)),
            synchronization=types.TextDocumentSyncClientCapabilities(),
        ),
    )


def init_params(options: dict[str, Any] | None = None, **kw: Any) -> types.InitializeParams:
    return types.InitializeParams(capabilities=capabilities(**kw), initialization_options=options or {})


def open_doc(client: Any, uri: str, text: str, language: str = "python", version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)))


def end_of(text: str) -> types.Position:
    lines = text.split("\n")
    return types.Position(len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2)


def inline_params(uri: str, position: types.Position, invoked: bool = True) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return types.InlineCompletionParams(text_document=types.TextDocumentIdentifier(uri), position=position,
                                        context=types.InlineCompletionContext(trigger_kind=kind))


async def wait_ready(client: Any) -> dict[str, Any]:
    """Wait for the server's `distill/status` notification; return it as a dict."""
    params = await client.wait_for_notification("distill/status")
    return plain(params)


plain = to_json_data
"""pygls's namedtuples (custom results, command answers) as the dicts and lists that were sent."""


#: examples/fib.py (the README's demo) up to its cursor: an unfinished function body.
UNFINISHED_PY = (Path(__file__).resolve().parent.parent / "examples" / "fib.py").read_text().removesuffix("\n")


def uri_for(tmp: Path, name: str) -> str:
    return (tmp / name).as_uri()


async def wait_until_engine_holds_a_job(client, pending, tries: int = 250) -> None:
    """Poll `distill.status` until the engine has a job queued or running (or `pending`
    is already answered): the moment to cancel or edit "during generation"."""
    import asyncio

    from lsprotocol import types as lsp

    for _ in range(tries):
        status = await client.workspace_execute_command_async(lsp.ExecuteCommandParams(command="distill.status"))
        if status["queue"] >= 1 or pending.done():
            return
        await asyncio.sleep(0.02)


def record_applied_edits(client: Any) -> None:
    """The client accepts every `workspace/applyEdit` and keeps its edits in `client.applied`
    (and reads code actions whose union pygls' converter gets wrong)."""
    from distill_lsp.headless_actions import fix_code_action_union

    fix_code_action_union(client.protocol._converter)
    client.applied = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: Any, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)
