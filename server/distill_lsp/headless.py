"""Headless client: start `distill-lsp serve` as a subprocess and drive a real stdio LSP
session from the command line (for scripts, CI, and the README's demo)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from .json_data import to_json_data
from .context.languages import detect_language
from .context.positions import line_starts, position_at


def language_id(path: Path) -> str:
    """The languageId to send for `path`: its `LanguageSpec`'s name by extension, else plaintext."""
    spec = detect_language(None, str(path))
    return spec.name if spec is not None else "plaintext"


class HeadlessError(Exception):
    """A problem to print for the user, with exit code 1."""


@dataclass
class Location:
    path: Path
    line: int
    column: int
    """1-based, in characters."""


def parse_location(text: str) -> Location:
    """FILE:LINE:COL (1-based)."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise HeadlessError(f"expected FILE:LINE:COL (1-based), got {text!r}")
    line, column = int(parts[1]), int(parts[2])
    if line < 1 or column < 1:
        raise HeadlessError(f"line and column are 1-based, got {line}:{column}")
    return Location(Path(parts[0]), line, column)


def lsp_position(text: str, line: int, column: int) -> types.Position:
    """1-based line and character column -> LSP position (UTF-16); past the end means the end."""
    starts = line_starts(text)
    if line > len(starts):
        raise HeadlessError(f"line {line} is past the end of the file ({len(starts)} lines)")
    start = starts[line - 1]
    end = starts[line] if line < len(starts) else len(text)
    while end > start and text[end - 1] in "\r\n":
        end -= 1
    offset = min(start + column - 1, end)
    return types.Position(*position_at(text, offset, starts))


@dataclass
class Session:
    """What the client heard from the server besides answers."""

    status: asyncio.Future[dict[str, Any]]
    traces: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    edits: list[types.WorkspaceEdit] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    stderr: bytearray = field(default_factory=bytearray)


class HeadlessClient(LanguageClient):
    def __init__(self, verbose: bool) -> None:
        super().__init__("distill-lsp-headless", "1")
        self.verbose = verbose
        self.session = Session(asyncio.get_running_loop().create_future())
        self._forward: asyncio.Task[None] | None = None
        self._register()

    def _register(self) -> None:
        session = self.session

        @self.feature("distill/status")
        def status(ls: Any, params: Any) -> None:
            if not session.status.done():
                session.status.set_result(to_json_data(params))

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def show(ls: Any, params: types.ShowMessageParams) -> None:
            session.messages.append(params.message)
            print(f"[server] {params.message}", file=sys.stderr)

        @self.feature(types.WINDOW_LOG_MESSAGE)
        def log(ls: Any, params: types.LogMessageParams) -> None:
            if self.verbose:
                print(f"[server log] {params.message}", file=sys.stderr)

        @self.feature(types.LOG_TRACE)
        def trace(ls: Any, params: types.LogTraceParams) -> None:
            session.traces.append(params.verbose or params.message)

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(ls: Any, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            session.edits.append(params.edit)  # printed as a diff, never written to the file
            return types.ApplyWorkspaceEditResult(applied=True)

        @self.feature(types.WINDOW_SHOW_DOCUMENT)
        def show_document(ls: Any, params: types.ShowDocumentParams) -> types.ShowDocumentResult:
            session.shown.append(params.uri)
            return types.ShowDocumentResult(success=True)

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create_progress(ls: Any, params: Any) -> None:
            return None

        @self.feature(types.PROGRESS)
        def progress(ls: Any, params: Any) -> None:
            value = to_json_data(params).get("value", {})
            if self.verbose and value.get("message"):
                print(f"[progress] {value.get('message')}", file=sys.stderr)

    async def start_io(self, cmd: str, *args: str, **kwargs: Any) -> None:
        await super().start_io(cmd, *args, **kwargs)
        if self._server is not None and self._server.stderr is not None:
            self._forward = asyncio.create_task(self._read_stderr(self._server.stderr))

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            if self.verbose:
                sys.stderr.buffer.write(line)
                sys.stderr.flush()
            else:
                self.session.stderr += line[-4096:]


def server_command(verbose: bool) -> list[str]:
    return [sys.executable, "-m", "distill_lsp", "serve", "--log-level", "debug" if verbose else "warning"]


async def open_session(options: dict[str, Any], verbose: bool, timeout: float,
                       capabilities: types.ClientCapabilities | None = None) -> HeadlessClient:
    """Start the server, initialize, and wait until its model is ready."""
    client = HeadlessClient(verbose)
    cmd = server_command(verbose)
    await client.start_io(cmd[0], *cmd[1:])
    capabilities = capabilities or types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True, show_document=None),
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities(),
            completion=types.CompletionClientCapabilities(),
        ),
    )
    await client.initialize_async(types.InitializeParams(
        capabilities=capabilities, initialization_options=options, process_id=None,
        trace=types.TraceValue.Verbose if verbose else types.TraceValue.Off,
    ))
    client.initialized(types.InitializedParams())
    status = await asyncio.wait_for(client.session.status, timeout)
    if status.get("state") != "ready":
        raise HeadlessError(f"the model could not be loaded: {status.get('error', status)}")
    return client


async def close_session(client: HeadlessClient) -> None:
    try:
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
    finally:
        await asyncio.wait_for(client.stop(), 10)


async def _complete(args: argparse.Namespace, options: dict[str, Any]) -> int:
    loc = parse_location(args.location)
    try:
        text = loc.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HeadlessError(f"cannot read {loc.path}: {exc}") from exc
    position = lsp_position(text, loc.line, loc.column)
    language = args.language or language_id(loc.path)
    started = time.perf_counter()
    client = await open_session(options, args.verbose, args.timeout)
    ready_s = time.perf_counter() - started
    try:
        client.protocol.notify(types.SET_TRACE, types.SetTraceParams(types.TraceValue.Messages))  # the request line
        uri = loc.path.resolve().as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
        asked = time.perf_counter()
        result = await asyncio.wait_for(client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri), position=position,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )), args.timeout)
        answered = time.perf_counter() - asked
    finally:
        await close_session(client)
    items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
    suggestion = items[0].insert_text if items else ""
    suggestion = suggestion if isinstance(suggestion, str) else suggestion.value
    print(suggestion)
    _print_timings(client.session, ready_s, answered)
    return 0 if suggestion else 3


def _print_timings(session: Session, ready_s: float, answered_s: float) -> None:
    status = session.status.result()
    print(f"model load: {status.get('loadSeconds', 0):.2f} s ({status.get('model')}, {status.get('device')}); "
          f"server start to ready: {ready_s:.2f} s", file=sys.stderr)
    for trace in session.traces:
        print(f"request: {trace}", file=sys.stderr)
    print(f"round trip: {answered_s * 1000:.0f} ms", file=sys.stderr)


def run_complete(args: argparse.Namespace, options: dict[str, Any]) -> int:
    return run_headless(_complete(args, options), args.timeout)


def run_headless(main: Any, timeout: float) -> int:
    """Run a headless coroutine; user-facing errors become a message and exit code 1."""
    try:
        return asyncio.run(main)
    except HeadlessError as exc:
        print(f"distill-lsp: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"distill-lsp: no answer within {timeout:.0f} s", file=sys.stderr)
        return 1
