"""`workspace/executeCommand distill.setProfile`: switch a feature's sampling profile
without a restart. `[name]` or `[name, feature]` (or `[{"profile": name, "feature": f}]`)
becomes a checked settings layer (`switch_layer`) under the key holding that feature's
profile, applied like any other settings change."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from pygls.exceptions import JsonRpcInvalidParams

from ..settings import Settings, option_keys

if TYPE_CHECKING:
    from ..server import DistillLanguageServer

logger = logging.getLogger(__name__)

SET_PROFILE_COMMAND = "distill.setProfile"

FEATURE_KEYS: dict[str, str] = {
    "completion": "profile",
    "explain": "explainProfile",
    "fix": "fixProfile",
    "document": "documentProfile",
}
"""Feature -> the settings key holding its profile (a key this build lacks is refused)."""


class ProfileSwitchError(ValueError):
    """The command's arguments name no known profile or feature; the message says what is allowed."""


def switch_layer(settings: Settings, arguments: Sequence[Any]) -> dict[str, str]:
    """`[name]` or `[name, feature]` (or `[{"profile": name, "feature": f}]`) -> a settings layer."""
    name, feature = _parse_arguments(arguments)
    if name not in settings.profile_names():
        raise ProfileSwitchError(f"unknown profile {name!r}; known: {', '.join(settings.profile_names())}")
    key = FEATURE_KEYS.get(feature)
    if key is None or key not in option_keys():
        known = [f for f, k in FEATURE_KEYS.items() if k in option_keys()]
        raise ProfileSwitchError(f"unknown feature {feature!r}; known: {', '.join(known)}")
    return {key: name}


def _parse_arguments(arguments: Sequence[Any]) -> tuple[str, str]:
    args = list(arguments or [])
    if len(args) == 1 and isinstance(args[0], dict):
        args = [args[0].get("profile"), args[0].get("feature", "completion")]
    if not 1 <= len(args) <= 2 or not all(isinstance(a, str) and a for a in args):
        raise ProfileSwitchError(
            f"{SET_PROFILE_COMMAND} takes a profile name and optionally a feature "
            f"({', '.join(FEATURE_KEYS)}), got {arguments!r}")
    return args[0], args[1] if len(args) == 2 else "completion"


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
