"""The language server object: session state (settings, documents, the engine) and the
services its feature handlers share. LSP wiring lives in `features/`."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from functools import partial
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .access import token_gate
from .completion.cache import TypedAheadCache
from .completion.speculation import Speculations
from .completion.types import Snapshot
from .context.repo_session import RepoSession
from .document_store import DocumentStore
from .engine.factory import model_key, make_backend_factory
from .engine.roles import ACTIONS, COMPLETION, EnginePool, one_at_a_time, role_settings
from .engine.worker import Engine, EngineSession, EngineState
from .features.accepts import SuggestionStats
from .features.progress import begin_progress, end_progress
from .protocol import DistillProtocol
from .settings import Settings, apply_options, resolve, without_server_owned

logger = logging.getLogger(__name__)

LOAD_STATE = "distill/status"
"""The notification telling the client the model's load state when a load ends:
``{"state": "ready", "model", "modelType", "device", "loadSeconds"}`` or
``{"state": "failed", "error"}``. (What the server is doing is the `distill.status` command.)"""


class DistillLanguageServer(LanguageServer):
    """One LSP session; the engine (and its model) may be shared between sessions."""

    def __init__(self, base_layers: tuple[Mapping[str, Any], ...] = (), engine: Engine | EnginePool | None = None,
                 access_token: str | None = None, shared: bool = False) -> None:
        super().__init__("distill-lsp", __version__, protocol_cls=DistillProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.session_id = uuid.uuid4().hex[:12]
        self.pool = engine if isinstance(engine, EnginePool) else EnginePool(engine)
        """The process's engines: one per distinct model (`engine/roles.py`)."""
        self.engine = self.pool.completion.session(self.session_id)
        """This session's view of the completion engine: its jobs take turns with other sessions'."""
        self.action_engine: EngineSession = self.engine
        """The view of the engine that runs Explain / Fix / Document: the same one unless
        `actionModel` (or `actionBackend`) names another model."""
        self.protocol.admit = token_gate(access_token)
        """When a token is set, `initialize` must carry it as initializationOptions.token."""
        self.shared = shared
        """Served over TCP to clients that do not own the process: server-owned settings
        come only from `base_layers` (command line, environment, config file)."""
        self.settings, self._startup_problems = resolve(*base_layers)
        self._loaded_key: tuple[Any, ...] | None = None
        """(completion model key, actions model key) last loaded."""
        self._load_task: asyncio.Task[None] | None = None
        self._request_ids = itertools.count(1)
        self.settings_from_client: Any = None
        self.documents = DocumentStore()
        """The open documents (text, version, parse tree, context memory): the only copy."""
        self.stale_reported: set[str] = set()
        """Documents whose stale didChange the user has been told about."""
        self.typed_ahead = TypedAheadCache()
        self.suggestion_stats = SuggestionStats()
        """Inline suggestions shown and accepted in this session (`features/accepts.py`)."""
        self.speculations = Speculations()
        """Next suggestions computed ahead, as if the shown ones were accepted (`features/suggest.py`)."""
        self.repo = RepoSession()
        """Workspace folders, their index and the recent edits (`features/workspace.py`)."""

    # -- settings -------------------------------------------------------------------
    def update_settings(self, layer: Any, origin: str) -> Settings:
        """Apply a layer of options; one message for all its problems; reload if needed."""
        if self.shared:
            layer, ignored = without_server_owned(layer)
            if ignored:
                logger.warning("settings from %s: server-owned keys ignored: %s", origin, ", ".join(ignored))
                self.show_message(f"distill-lsp: this server is shared, so it ignored {', '.join(ignored)} "
                                  f"({origin}): those are set by its command line, environment or config file",
                                  types.MessageType.Warning)
        before = self.settings
        self.settings, problems = apply_options(self.settings, layer)
        if self.settings.sampling_profile() != before.sampling_profile():
            self.typed_ahead = TypedAheadCache()  # suggestions of the old profile are not this one's
        problems = self._startup_problems + problems
        self._startup_problems = []
        if problems:
            logger.warning("settings from %s: %s", origin, "; ".join(problems))
            self.show_message(f"distill-lsp: ignored invalid settings ({origin}): " + "; ".join(problems),
                              types.MessageType.Warning)
        self.ensure_model()
        return self.settings

    # -- model ----------------------------------------------------------------------
    def ensure_model(self, force: bool = False) -> None:
        """Start loading the configured models in the background unless they are loaded or
        loading; a failed load is tried again, and `force` reloads a loaded one. Completions
        and actions share one engine (one load) when their models are the same."""
        settings = {role: role_settings(self.settings, role) for role in (COMPLETION, ACTIONS)}
        keys = (model_key(settings[COMPLETION]), model_key(settings[ACTIONS]))
        failed = any(e.state is EngineState.FAILED for e in {id(e): e for e in (self.engine, self.action_engine)}.values())
        if keys == self._loaded_key and not force and not failed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without an event loop (unit tests): nothing to load on
            logger.debug("no running event loop; the model is not loaded")
            return
        self._loaded_key = keys
        self.speculations = Speculations()  # computed by the model being replaced
        separate = keys[0] != keys[1]
        self._set_action_engine(separate)
        loads = [(self.engine, settings[COMPLETION], keys[0], [COMPLETION] if separate else [COMPLETION, ACTIONS])]
        if separate:
            loads.append((self.action_engine, settings[ACTIONS], keys[1], [ACTIONS]))
        for engine, role_set, key, roles in loads:
            future = engine.load(one_at_a_time(make_backend_factory(role_set)), key=key, force=force)
            self._load_task = loop.create_task(self._load(role_set, future, roles))

    def _set_action_engine(self, separate: bool) -> None:
        if separate == (self.action_engine is not self.engine):
            return
        if separate:
            self.action_engine = self.pool.actions(True).session(self.session_id)
            return
        self.action_engine.end()
        self.action_engine = self.engine
        if not self.shared:  # (a shared pool keeps its engines for the other sessions)
            self.pool.drop_actions()

    def engines(self) -> dict[str, EngineSession]:
        """This session's engine views by role (the same view twice when the model is shared)."""
        return {COMPLETION: self.engine, ACTIONS: self.action_engine}

    async def _load(self, settings: Settings, future: Future, roles: list[str] | None = None) -> None:
        roles = roles or [COMPLETION, ACTIONS]
        label = "" if len(roles) == 2 else f"{roles[0]} "
        token = str(uuid.uuid4())
        progress = await begin_progress(self, token, "distill-lsp", f"loading {label}model ({settings.model})")
        try:
            info = await asyncio.wrap_future(future)
        except Exception as exc:  # any failure of the load (the engine marked itself failed): tell the user
            end_progress(self, progress, token, "failed")
            logger.error("%smodel not available: %s", label, exc)
            self.show_message(f"distill-lsp: {label}model: {exc}" if label else f"distill-lsp: {exc}",
                              types.MessageType.Error)
            self.protocol.notify(LOAD_STATE, {"state": "failed", "error": str(exc), "roles": roles})
            return
        end_progress(self, progress, token, "ready")
        message = f"{label}model {info.name} ready on {info.device} ({info.dtype}) in {info.load_s:.1f} s"
        self.window_log_message(types.LogMessageParams(types.MessageType.Info, message))
        self.protocol.notify(LOAD_STATE, {"state": "ready", "model": info.name, "modelType": info.model_type,
                                          "device": info.device, "loadSeconds": info.load_s, "roles": roles})

    # -- documents ------------------------------------------------------------------
    def snapshot(self, uri: str, position: types.Position, automatic: bool) -> Snapshot | None:
        """The open document at `position` (UTF-16), or None for a document that isn't open."""
        doc = self.documents.get(uri)
        if doc is None:
            return None
        others = [(d.path, d.text) for d in self.documents.documents() if d.key != doc.key]
        return Snapshot(uri=doc.key, version=doc.version, text=doc.text,
                        offset=doc.offset_at(position.line, position.character), lang=doc.lang, tree=doc.tree,
                        other_docs=others, automatic=automatic, memory=self.documents.memory(doc.key),
                        remember=partial(self.documents.remember, doc.key), path=doc.path,
                        repo=self.repo.request(doc.path, others))

    def next_request_id(self) -> str:
        return f"c{next(self._request_ids)}"

    def end_session(self) -> None:
        """The connection is gone: cancel this session's jobs, forget its documents and caches."""
        cancelled = self.engine.end()  # (a model load is shared: it goes on for the other sessions)
        if self.action_engine is not self.engine:
            cancelled += self.action_engine.end()
        self.repo.stop()
        self.documents.clear()
        self.typed_ahead = TypedAheadCache()
        self.suggestion_stats = SuggestionStats()
        self.speculations = Speculations()
        logger.info("session %s ended: %d engine jobs cancelled, its documents and caches freed",
                    self.session_id, cancelled)

    # -- messages -------------------------------------------------------------------
    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))


def create_server(base_layers: tuple[Mapping[str, Any], ...] = (), engine: Engine | EnginePool | None = None,
                  access_token: str | None = None, shared: bool = False) -> DistillLanguageServer:
    """A server with every feature registered (`shared`: one TCP session of many)."""
    from .features import register_all

    server = DistillLanguageServer(base_layers, engine, access_token, shared)
    register_all(server)
    return server
