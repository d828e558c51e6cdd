"""A small stand-in for `distill-lsp serve`, used by the real-editor tests.

It speaks the same LSP surface as the real server (inline completion, classic
completion, the three code actions and their commands) but answers from a fixed
table instead of a model, so the editor tests run in seconds.  Like the real
server, it answers empty until it is "ready" (``FAKE_DISTILL_WARMUP_S`` seconds
after ``initialize``), which exercises the tests' poll-until-a-suggestion loop.

Run: ``python fake_server.py`` (stdio) or ``python fake_server.py --tcp --port N``.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)

#: What the stand-in suggests after ``return`` (and as its classic completion).
SUGGESTION = "a + b"
ACTION_TITLES = {"distill.explain": "Explain this", "distill.fix": "Fix this", "distill.document": "Document this"}
COMMANDS = (*ACTION_TITLES, "distill.setProfile")
KNOWN_SETTINGS = {"model", "profile", "maxNewTokens"}

server = LanguageServer("fake-distill-lsp", "0.0.1")
_state: dict[str, Any] = {"ready_at": float("inf"), "settings": {}}


def _ready() -> bool:
    return time.monotonic() >= _state["ready_at"]


def _check_settings(raw: Any) -> None:
    """Log (and tell the user about) keys the real server would not know."""
    if not isinstance(raw, dict):
        return
    raw = raw.get("distill", raw)
    unknown = sorted(set(raw) - KNOWN_SETTINGS)
    if unknown:
        server.window_show_message(types.ShowMessageParams(types.MessageType.Warning, f"unknown settings {unknown}"))
    _state["settings"].update({k: v for k, v in raw.items() if k in KNOWN_SETTINGS})


@server.feature(types.INITIALIZE)
def initialize(params: types.InitializeParams) -> None:
    warmup = float(os.environ.get("FAKE_DISTILL_WARMUP_S", "1.0"))
    _state["ready_at"] = time.monotonic() + warmup
    _check_settings(params.initialization_options)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
    _check_settings(params.settings)


def _line_prefix(uri: str, position: types.Position) -> str:
    doc = server.workspace.get_text_document(uri)
    lines = doc.lines
    line = lines[position.line] if position.line < len(lines) else ""
    return line[: position.character]


def _suggest(uri: str, position: types.Position) -> str:
    """The continuation of the current line, or "" when there is none."""
    prefix = _line_prefix(uri, position)
    stripped = prefix.rstrip()
    if not stripped.endswith("return"):
        return ""
    return SUGGESTION if prefix.endswith(" ") else " " + SUGGESTION


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
def inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
    text = _suggest(params.text_document.uri, params.position) if _ready() else ""
    logger.info("inline completion at %s: %r", params.position, text)
    if not text:
        return types.InlineCompletionList(items=[])
    _state["shown"] = _state.get("shown", 0) + 1
    item_id = f"fake-{_state['shown']}"  # like the real server: the item carries its accept command
    command = types.Command(title="distill: suggestion accepted", command="distill.accepted", arguments=[{"id": item_id}])
    return types.InlineCompletionList(items=[types.InlineCompletionItem(insert_text=text, command=command)])


@server.command("distill.accepted")
def accepted(ls: LanguageServer, *args: Any) -> None:
    _state["accepted"] = _state.get("accepted", 0) + 1


@server.command("distill.status")
def status(ls: LanguageServer, *args: Any) -> dict[str, Any]:
    shown, accepted = _state.get("shown", 0), _state.get("accepted", 0)
    return {"suggestions": [{"profile": "stand-in", "language": "python", "shown": shown, "accepted": accepted,
                             "acceptRate": round(accepted / shown, 3) if shown else None}]}


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[" ", "."]))
def completion(params: types.CompletionParams) -> types.CompletionList:
    text = _suggest(params.text_document.uri, params.position).strip() if _ready() else ""
    items = [types.CompletionItem(label=text, kind=types.CompletionItemKind.Text, detail="distill")] if text else []
    return types.CompletionList(is_incomplete=not _ready(), items=items)


def _action(command: str, uri: str, rng: types.Range) -> types.CodeAction:
    title = ACTION_TITLES[command]
    data = {"uri": uri, "range": {"start": {"line": rng.start.line, "character": rng.start.character},
                                  "end": {"line": rng.end.line, "character": rng.end.character}}}
    kind = types.CodeActionKind.QuickFix if command == "distill.fix" else types.CodeActionKind.RefactorRewrite
    return types.CodeAction(title=title, kind=kind, data=data,
                            command=types.Command(title=title, command=command, arguments=[data]))


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite],
        resolve_provider=True,
    ),
)
def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
    return [_action(cmd, params.text_document.uri, params.range) for cmd in ACTION_TITLES]


@server.feature(types.CODE_ACTION_RESOLVE)
def code_action_resolve(action: types.CodeAction) -> types.CodeAction:
    return action


def _run_action(ls: LanguageServer, args: list[Any], what: str) -> str:
    ls.window_show_message(types.ShowMessageParams(types.MessageType.Info, f"distill: {what}"))
    return what


@server.command("distill.explain")
def explain(ls: LanguageServer, *args: Any) -> str:
    return _run_action(ls, list(args), "explained")


@server.command("distill.fix")
def fix(ls: LanguageServer, *args: Any) -> str:
    return _run_action(ls, list(args), "fixed")


@server.command("distill.document")
def document(ls: LanguageServer, *args: Any) -> str:
    return _run_action(ls, list(args), "documented")


@server.command("distill.setProfile")
def set_profile(ls: LanguageServer, *args: Any) -> str:
    return _run_action(ls, list(args), "profile set")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("serve", nargs="?", help="accepted for command-line compatibility with distill-lsp")
    parser.add_argument("--tcp", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2087)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="fake-distill %(levelname)s %(message)s")
    logging.getLogger("pygls").setLevel(logging.WARNING)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()


if __name__ == "__main__":
    main()
