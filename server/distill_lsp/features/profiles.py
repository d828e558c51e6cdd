"""`workspace/executeCommand distill.setProfile`: switch a feature's sampling profile
without a restart."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from pygls.exceptions import JsonRpcInvalidParams

from ..profile_switch import SET_PROFILE_COMMAND, ProfileSwitchError, switch_layer

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)


def register(server: DistillLanguageServer) -> None:
    @server.command(SET_PROFILE_COMMAND)
    def set_profile(ls, *arguments):  # type: ignore[no-untyped-def]  # pygls resolves annotations at run time
        ls = cast("DistillLanguageServer", ls)
        try:
            layer = switch_layer(ls.settings, arguments)
        except ProfileSwitchError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc
        ls.update_settings(layer, SET_PROFILE_COMMAND)
        (key, name), = layer.items()
        logger.info("profile for %s is now %s", key, name)
        return {"key": key, "profile": name, "describe": ls.settings.sampling_profile(name).describe()}
