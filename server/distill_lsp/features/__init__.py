"""LSP wiring: one module per feature, each with a `register(server)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server import DistillLanguageServer


def register_all(server: DistillLanguageServer) -> None:
    from . import (accepts, code_actions, completion, documents, inline_completion, lifecycle, reload, set_profile,
                   status, workspace)

    for module in (lifecycle, documents, inline_completion, accepts, completion, code_actions, set_profile, status,
                   reload, workspace):
        module.register(server)
