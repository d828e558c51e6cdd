"""Switching sampling profiles at run time: which settings key a feature's profile lives
under, and the checked settings layer a `distill.setProfile` command turns into."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .settings import Settings, option_keys

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
