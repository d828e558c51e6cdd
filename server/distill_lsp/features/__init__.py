"""LSP wiring: one module per feature, each with a `register(server)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server import DistillLanguageServer


def register_all(server: DistillLanguageServer) -> None:
    from . import (accepts, code_actions, completion, documents, engine_status, inline_completion, lifecycle,
                   profiles, reload, status)

    for module in (lifecycle, documents, inline_completion, accepts, completion, code_actions, profiles,
                   engine_status, status, reload):
        module.register(server)
