"""Work-done progress (`window/workDoneProgress/create`, `$/progress`): the one way this
server shows a progress bar in the editor. A client without the capability, or one that
refuses the token, gets none, and the work goes on without it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)


async def begin_progress(ls: DistillLanguageServer, token: str, title: str, message: str, *,
                         cancellable: bool | None = None, percentage: int | None = None) -> bool:
    """Create the token and begin the bar; False when the client shows none."""
    window = ls.client_capabilities.window
    if not (window and window.work_done_progress):
        return False
    try:
        await ls.work_done_progress.create_async(token)
    except Exception as exc:  # the client refused the token: go on without a bar
        logger.debug("progress token refused: %s", exc)
        return False
    ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
        title=title, message=message, cancellable=cancellable, percentage=percentage))
    return True


def end_progress(ls: DistillLanguageServer, started: bool, token: str, message: str) -> None:
    """End a bar `begin_progress` started (nothing when it did not)."""
    if started:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
