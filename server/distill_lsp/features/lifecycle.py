"""initialize / initialized / didChangeConfiguration / shutdown."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from ..settings import unwrap_section
from . import workspace

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)


def register(server: DistillLanguageServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: DistillLanguageServer, params: types.InitializeParams) -> None:
        ls.settings_from_client = params.initialization_options
        ls.protocol.trace = params.trace or types.TraceValue.Off
        workspace.on_initialize(ls, params)

    @server.feature(types.INITIALIZED)
    def initialized(ls: DistillLanguageServer, params: types.InitializedParams) -> None:
        ls.update_settings(unwrap_section(ls.settings_from_client), "initializationOptions")
        workspace.apply_settings(ls)
        workspace.register_watchers(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: DistillLanguageServer,
                                 params: types.DidChangeConfigurationParams) -> None:
        ls.update_settings(unwrap_section(params.settings), "workspace/didChangeConfiguration")
        workspace.apply_settings(ls)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: DistillLanguageServer, params: None) -> None:
        for doc in ls.documents.documents():  # the engine is the process's (cli closes it): it may serve others
            ls.engine.cancel_key(doc.key)
