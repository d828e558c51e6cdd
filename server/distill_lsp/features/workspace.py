"""Workspace wiring: the folders from `initialize` and `workspace/didChangeWorkspaceFolders`,
files changed on disk from `workspace/didChangeWatchedFiles` (registered dynamically when
the client can), edits for the recent-edits ring, and the `workspaceContext` settings.
The work itself is `context.repo_session.RepoSession`'s, off the event loop.

A server shared over TCP reads nothing from disk for its clients: a client could name any
folder of the machine as its workspace, and suggestions would carry its files back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lsprotocol import types

from ..context.languages import SPECS
from ..uris import to_path

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)

WATCH_GLOB = "**/*.{" + ",".join(sorted({ext.lstrip(".") for spec in SPECS for ext in spec.extensions})) + "}"


def folders_of(params: types.InitializeParams) -> list[str]:
    """The workspace folders' paths: `workspaceFolders`, else `rootUri`, else `rootPath`."""
    if params.workspace_folders:
        return [to_path(f.uri) for f in params.workspace_folders if f.uri.startswith("file:")]
    if params.root_uri and params.root_uri.startswith("file:"):
        return [to_path(params.root_uri)]
    return [params.root_path] if params.root_path else []


def on_initialize(ls: DistillLanguageServer, params: types.InitializeParams) -> None:
    if ls.shared:
        ls.repo.enabled = False
        return
    ls.repo.set_folders(folders_of(params))


def apply_settings(ls: DistillLanguageServer) -> None:
    """Settings changed: (re)build the index when what it depends on changed."""
    s = ls.settings
    if ls.shared:
        return
    if ls.repo.configure(s.workspace_context, s.workspace_max_files, s.workspace_max_file_kb, s.workspace_index_mb) \
            or ls.repo.index.stats().state == "idle":
        ls.repo.start_indexing()


def register_watchers(ls: DistillLanguageServer) -> None:
    """Ask the client to tell us of source files changed on disk, when it can register dynamically."""
    caps = ls.client_capabilities.workspace
    watched = caps.did_change_watched_files if caps is not None else None
    if ls.shared or watched is None or not watched.dynamic_registration:
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern=WATCH_GLOB)])
    registration = types.Registration(id=str(uuid.uuid4()), method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                      register_options=options)

    def done(future: object) -> None:
        error = getattr(future, "exception", lambda: None)()
        if error is not None:
            logger.info("the client refused to watch files: %s", error)

    ls.client_register_capability(types.RegistrationParams(registrations=[registration])).add_done_callback(done)


def edited(ls: DistillLanguageServer, path: str, text: str,
           changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
    """Note where a didChange edited the document (the first line of its last change)."""
    if not changes or not ls.repo.enabled:
        return
    last = changes[-1]
    line = last.range.start.line if isinstance(last, types.TextDocumentContentChangePartial) else 0
    ls.repo.edited(path, text, line)


def register(server: DistillLanguageServer) -> None:
    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: DistillLanguageServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        if ls.shared:
            return
        added = [to_path(f.uri) for f in params.event.added if f.uri.startswith("file:")]
        removed = [to_path(f.uri) for f in params.event.removed if f.uri.startswith("file:")]
        ls.repo.change_folders(added, removed)
        ls.repo.start_indexing()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched(ls: DistillLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        if not ls.shared:
            ls.repo.files_changed([to_path(c.uri) for c in params.changes if c.uri.startswith("file:")])
