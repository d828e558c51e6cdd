"""Running one Explain / Fix / Document action for the LSP handlers: the stale-version
check, the engine job with a cancellable progress bar, and delivering the outcome
(a WorkspaceEdit, or an explanation file shown with window/showDocument)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException

from ..actions.edits import ReplacementResult
from ..actions.prompts import ActionKind
from ..actions.run import ActionConfig, ActionError, ActionInput, ActionOutput
from ..actions.search import run_action
from ..document_store import Document
from ..engine.types import CancelToken, EngineError, StopReason
from ..json_data import to_json_data
from ..uris import file_name
from .model_wait import wait_for_model
from .progress import begin_progress, end_progress

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.2
SHOWN_LINES = 6


class ActionRefused(JsonRpcException):
    """The action could not run; the user has been told why (RequestFailed)."""

    CODE = -32803


@dataclass(frozen=True)
class ActionData:
    """`data` of a listed action and the argument of its command."""

    uri: str
    range: types.Range
    version: int | None
    kind: ActionKind
    diagnostics: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        r = self.range
        return {"uri": self.uri, "version": self.version, "kind": self.kind.value,
                "range": {"start": {"line": r.start.line, "character": r.start.character},
                          "end": {"line": r.end.line, "character": r.end.character}},
                "diagnostics": list(self.diagnostics)}

    @classmethod
    def from_json(cls, raw: Any) -> ActionData:
        raw = to_json_data(raw)
        try:
            start, end = raw["range"]["start"], raw["range"]["end"]
            return cls(str(raw["uri"]), types.Range(types.Position(int(start["line"]), int(start["character"])),
                                                   types.Position(int(end["line"]), int(end["character"]))),
                       raw.get("version"), ActionKind(raw["kind"]), tuple(str(d) for d in raw.get("diagnostics", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise JsonRpcException(f"distill-lsp: malformed action data: {exc}", code=-32602) from exc


@dataclass
class PerformedAction:
    """An action's output and the document version it worked on."""

    output: ActionOutput
    doc: Document
    """The document as the action saw it."""


class ProgressBar:
    """window/workDoneProgress/create + $/progress; a client cancel stops the generation."""

    def __init__(self, ls: DistillLanguageServer, cancel: CancelToken, budget: int) -> None:
        self.ls, self.cancel, self.budget = ls, cancel, max(1, budget)
        self.token = f"distill-action-{uuid.uuid4()}"
        self.active = False
        self._loop = asyncio.get_running_loop()
        self._last = 0.0
        self._phase = ""

    async def begin(self, title: str) -> None:
        if not await begin_progress(self.ls, self.token, title, "waiting for the model", cancellable=True,
                                    percentage=0):
            return
        self.ls.work_done_progress.tokens[self.token].add_done_callback(self._on_client_cancel)
        self.active = True

    def _on_client_cancel(self, future: Future) -> None:
        if future.cancelled():
            logger.debug("progress %s cancelled by the client", self.token)
            self.cancel.cancel(StopReason.CANCELLED)

    def update(self, tokens: int, phase: str) -> None:
        """Called on the engine worker for every token; reports at most every 0.2 s, and
        always when the phase changes (a new try of a Fix, reasoning to answer)."""
        now = time.monotonic()
        if not self.active or (now - self._last < PROGRESS_EVERY_S and tokens > 1 and phase == self._phase):
            return
        self._last, self._phase = now, phase
        value = types.WorkDoneProgressReport(message=f"{tokens} tokens ({phase})", cancellable=True,
                                             percentage=min(99, tokens * 100 // self.budget))
        self._loop.call_soon_threadsafe(self._report, value)

    def _report(self, value: types.WorkDoneProgressReport) -> None:
        if self.active:  # a report queued by the worker may arrive after `end`
            self.ls.work_done_progress.report(self.token, value)

    def end(self, message: str) -> None:
        end_progress(self.ls, self.active, self.token, message)
        self.active = False


def refuse(ls: DistillLanguageServer, message: str, error: type[JsonRpcException] = ActionRefused) -> None:
    """Tell the user and answer the request with an error."""
    ls.show_message(f"distill-lsp: {message}", types.MessageType.Warning)
    raise error(message)


def action_config(ls: DistillLanguageServer, kind: ActionKind) -> ActionConfig:
    s = ls.settings
    name = {ActionKind.EXPLAIN: s.explain_profile, ActionKind.FIX: s.fix_profile,
            ActionKind.DOCUMENT: s.document_profile}[kind]
    profile = s.sampling_profile(name)
    return ActionConfig(profile=profile, max_new_tokens=profile.max_new_tokens or s.action_max_new_tokens,
                        reasoning_tokens=s.reasoning_tokens, include_reasoning=s.include_reasoning,
                        tries=s.action_tries, budget_s=s.action_budget_seconds, parser_repair=s.parser_repair)


def make_input(data: ActionData, doc: Document) -> ActionInput:
    start = doc.offset_at(data.range.start.line, data.range.start.character)
    end = doc.offset_at(data.range.end.line, data.range.end.character)
    name = file_name(doc.uri)
    title = f"Explanation: {name} lines {data.range.start.line + 1}-{data.range.end.line + 1}"
    return ActionInput(data.kind, doc.text, start, end, doc.lang, name, data.diagnostics, title,
                       context_lines=8 if data.kind is ActionKind.EXPLAIN else 0)


def current(ls: DistillLanguageServer, data: ActionData) -> Document:
    """The document the action was offered for, refused when closed or edited since."""
    doc = ls.documents.get(data.uri)
    if doc is None:
        refuse(ls, f"{data.uri} is not open")
    if data.version is not None and doc.version != data.version:
        refuse(ls, f"the document changed since this action was offered (version {data.version}, "
                   f"now {doc.version}); ask for the action again", JsonRpcContentModified)
    return doc


def check_unchanged(ls: DistillLanguageServer, doc: Document, when: str) -> None:
    """Refuse when the document moved on from the version the action worked on."""
    if ls.documents.version(doc.key) != doc.version:
        refuse(ls, f"the document changed {when}; ask again", JsonRpcContentModified)


async def perform(ls: DistillLanguageServer, data: ActionData) -> PerformedAction:
    """Run the action on the engine; refused when stale, not ready or cancelled."""
    current(ls, data)
    if (not_ready := await wait_for_model(ls, data.kind.value, ls.action_engine)) is not None:
        refuse(ls, not_ready)
    doc = current(ls, data)  # (the user may have typed while the model loaded)
    job = make_input(data, doc)
    config, token, request_id = action_config(ls, data.kind), CancelToken(), ls.next_request_id()
    tries = config.tries if data.kind is not ActionKind.EXPLAIN else 1
    bar = ProgressBar(ls, token, (config.max_new_tokens + config.reasoning_tokens) * tries)
    await bar.begin(f"distill-lsp: {data.kind.value}")
    result = await _generate(ls, job, config, token, bar, request_id)
    if result.cancelled:
        refuse(ls, f"{data.kind.value} cancelled")
    check_unchanged(ls, doc, "while the model was working")
    logger.debug("%s: %s prompt_tokens=%d new_tokens=%d capped=%s %s %.0f ms", request_id, data.kind,
                 result.prompt_tokens, result.new_tokens, result.reasoning_capped, result.stop_reason,
                 result.timings.get("total_ms", 0))
    if data.kind is not ActionKind.EXPLAIN:
        ls.window_log_message(types.LogMessageParams(types.MessageType.Info, tries_line(data.kind, result)))
    return PerformedAction(result, doc)


async def _generate(ls: DistillLanguageServer, job: ActionInput, config: ActionConfig, token: CancelToken,
                    bar: ProgressBar, request_id: str) -> ActionOutput:
    future = ls.action_engine.submit(
        lambda backend, tok: run_action(job, backend, tok, config, bar.update, request_id),
        key=f"{job.path}#action-{request_id}", token=token)
    outcome = "done"
    try:
        result = await asyncio.wrap_future(future)
    except asyncio.CancelledError:  # $/cancelRequest
        token.cancel(StopReason.CANCELLED)
        outcome = "cancelled"
        raise
    except (ActionError, EngineError) as exc:
        outcome = "failed"
        refuse(ls, str(exc))
    finally:
        bar.end(outcome)
    return result if result is not None else ActionOutput(job.kind, "", cancelled=True)


def tries_line(kind: ActionKind, result: ActionOutput) -> str:
    """The log line of a Fix / Document: what each try gave, and how many the edit took."""
    replacement = result.replacement
    head = (f"{kind.value}: offered after {result.tries} model {'try' if result.tries == 1 else 'tries'} "
            f"({result.repaired_by})" if replacement is not None and replacement.ok
            else f"{kind.value}: nothing offered after {result.tries} model tries")
    return head + "".join(f"\n  {line}" for line in result.attempts)


def workspace_edit(ls: DistillLanguageServer, doc: Document, replacement: ReplacementResult) -> types.WorkspaceEdit:
    """The replacement as a WorkspaceEdit of `doc`'s version: a versioned TextDocumentEdit
    where the client supports documentChanges (it refuses the edit if the document moved
    on), else plain `changes` (the caller checks the version right before sending them)."""
    start, end = doc.position_at(replacement.start), doc.position_at(replacement.end)
    edit = types.TextEdit(types.Range(types.Position(*start), types.Position(*end)), replacement.new_text or "")
    ws = ls.client_capabilities.workspace
    if ws and ws.workspace_edit and ws.workspace_edit.document_changes:
        ident = types.OptionalVersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(ident, [edit])])
    return types.WorkspaceEdit(changes={doc.uri: [edit]})


def edit_for(ls: DistillLanguageServer, data: ActionData, performed: PerformedAction) -> types.WorkspaceEdit:
    """The edit of a performed Fix / Document; a refused one, or one whose document changed
    meanwhile, is told to the user."""
    replacement = performed.output.replacement
    assert replacement is not None
    if not replacement.ok:
        refuse(ls, f"no {data.kind.value} offered: {replacement.refusal}")
    check_unchanged(ls, performed.doc, f"before the {data.kind.value} could be applied")
    return workspace_edit(ls, performed.doc, replacement)


def explanation_path(ls: DistillLanguageServer, data: ActionData) -> Path:
    stem = re.sub(r"[^\w.-]+", "_", file_name(data.uri))[:60]
    folder = ls.settings.resolved_cache_dir() / "explanations"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"{stem}-L{data.range.start.line + 1}-{stamp}-{uuid.uuid4().hex[:6]}.md"


async def deliver_explanation(ls: DistillLanguageServer, data: ActionData, markdown: str) -> Path:
    """Write the markdown; open it with showDocument, else showMessage + logMessage."""
    path = explanation_path(ls, data)
    path.write_text(markdown, encoding="utf-8")
    window = ls.client_capabilities.window
    if window and window.show_document and window.show_document.support:
        shown = await ls.window_show_document_async(types.ShowDocumentParams(uri=path.as_uri(), take_focus=True))
        if shown.success:
            return path
    lines = [line for line in markdown.splitlines() if line.strip()]
    head = "\n".join(lines[:SHOWN_LINES]) + ("\n…" if len(lines) > SHOWN_LINES else "")
    ls.show_message(f"{head}\n(full explanation: {path})")
    ls.window_log_message(types.LogMessageParams(types.MessageType.Info, markdown))
    return path
