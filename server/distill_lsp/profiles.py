"""Sampling profiles: named, validated decoding parameters for the model.

A profile is plain data (`SamplingProfile`); `validate_profile` turns a user's mapping
into one, reporting each bad field with its allowed range while keeping the rest.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SamplingProfile:
    """Decoding parameters for one kind of request."""

    name: str
    do_sample: bool = True
    temperature: float = 0.65
    top_p: float = 0.95
    top_k: int = 0
    repetition_penalty: float = 1.1
    max_new_tokens: int | None = None
    """None: the feature's own default length (completion vs explain)."""

    def describe(self) -> str:
        if self.name == "auto":
            return describe_auto()
        if not self.do_sample:
            return f"{self.name} (greedy, repetition_penalty={self.repetition_penalty})"
        return (
            f"{self.name} (temperature={self.temperature}, top_p={self.top_p}, "
            f"top_k={self.top_k}, repetition_penalty={self.repetition_penalty})"
        )


BUILTIN_PROFILES: dict[str, SamplingProfile] = {
    "greedy": SamplingProfile("greedy", do_sample=False, temperature=1.0, top_p=1.0, repetition_penalty=1.0),
    "precise": SamplingProfile("precise", temperature=0.45),
    "coding": SamplingProfile("coding", temperature=0.65),
    "creative": SamplingProfile("creative", temperature=0.85),
}

DEFAULT_PROFILE = "coding"
"""The product's profile: Explain's default, and the base of user-defined profiles."""
DEFAULT_COMPLETION_PROFILE = "auto"
"""Inline and classic completion's default: `auto`, which is greedy on code (measured on the
real-code benchmark's tuning half: see the README) and `coding` within comment lines."""
COMPLETION_MAX_NEW_TOKENS = 48
"""A suggestion's token limit where nothing else is said (the `maxNewTokens` setting's default)."""
COMPLETION_MAX_LINES = 12
"""Most lines of a multi-line suggestion where nothing else is said (`maxLines`'s default)."""

AUTO = "auto"
"""The profile name whose parameters follow the kind of request (see `auto_profile`)."""

AUTO_RULE: dict[tuple[str, bool], str] = {
    ("single_line", False): "greedy",
    ("multi_line", False): "greedy",
    ("single_line", True): "coding",
    ("multi_line", True): "precise",
}
"""(mode kind, in a comment or docstring) -> the built-in profile `auto` uses there. Code
(the first two): greedy, measured with bench/quality.py on the tuning half of 300 holes cut
from real code in five languages: edit similarity 28.3% greedy (no repetition penalty) vs
26.5% greedy with penalty 1.1 vs 23.6% `coding` (T 0.65), against 25.3% for the naive server
(README, "Measured"). Comments and docstrings (the last two): the earlier sweep's choice
(bench/profiles.py, bench/auto_rule.py, docs/sweep/profiles.md); the real-code set has no
holes there, so it was not measured again."""

AUTO_PLACEHOLDER = SamplingProfile(AUTO)
"""What `Settings.sampling_profile("auto")` hands out; the pipeline resolves it per request."""


def is_auto(profile: SamplingProfile) -> bool:
    return profile.name == AUTO


def auto_profile(mode_kind: str, in_comment_or_docstring: bool) -> SamplingProfile:
    """The profile `auto` uses for one request (`AUTO_RULE`): coding (0.65) within a line
    of a comment or docstring, precise (0.45) everywhere else (a line or a block of code,
    a docstring line of its own).

    Named `auto:<profile>` so logs show which one was taken.
    """
    chosen = AUTO_RULE.get((mode_kind, in_comment_or_docstring), DEFAULT_PROFILE)
    return dataclasses.replace(BUILTIN_PROFILES[chosen], name=f"{AUTO}:{chosen}")


_AUTO_KIND_NAMES = {
    ("single_line", False): "single line",
    ("multi_line", False): "block",
    ("single_line", True): "in a comment or docstring line",
    ("multi_line", True): "docstring block",
}


def describe_auto() -> str:
    """`auto (single line: precise 0.45; block: precise 0.45; ...)`, from `AUTO_RULE`."""
    parts = []
    for key, name in _AUTO_KIND_NAMES.items():
        profile = BUILTIN_PROFILES[AUTO_RULE[key]]
        parts.append(f"{name}: {profile.name}" + (f" {profile.temperature}" if profile.do_sample else ""))
    return f"{AUTO} ({'; '.join(parts)})"


_FIELD_CHECKS: dict[str, tuple[type | tuple[type, ...], Any, str]] = {
    "temperature": ((int, float), lambda v: 0 < v <= 5, "a number in (0, 5]"),
    "top_p": ((int, float), lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "top_k": (int, lambda v: 0 <= v <= 1000, "an integer in [0, 1000] (0 disables)"),
    "repetition_penalty": ((int, float), lambda v: 0.5 <= v <= 3, "a number in [0.5, 3]"),
    "max_new_tokens": (int, lambda v: 1 <= v <= 8192, "an integer in [1, 8192]"),
    "do_sample": (bool, lambda v: True, "true or false"),
}

_CAMEL = {
    "topP": "top_p",
    "topK": "top_k",
    "repetitionPenalty": "repetition_penalty",
    "maxNewTokens": "max_new_tokens",
    "doSample": "do_sample",
}


def validate_profile(
    name: str, fields: Mapping[str, Any], base: SamplingProfile | None = None
) -> tuple[SamplingProfile, list[str]]:
    """Build a profile from `fields` over `base`; return it with the problems found.

    Each invalid field is reported and skipped, the valid ones apply.
    """
    base = base or BUILTIN_PROFILES[DEFAULT_PROFILE]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for raw_key, value in fields.items():
        key = _CAMEL.get(raw_key, raw_key)
        check = _FIELD_CHECKS.get(key)
        if check is None:
            problems.append(f"profile {name!r}: unknown field {raw_key!r}")
            continue
        types, ok, allowed = check
        is_bool = isinstance(value, bool)
        if (is_bool and types is not bool) or not isinstance(value, types) or (
            isinstance(value, float) and not math.isfinite(value)
        ) or not ok(value):
            problems.append(f"profile {name!r}: {raw_key} must be {allowed}, got {value!r}")
            continue
        values[key] = float(value) if isinstance(types, tuple) and not is_bool else value
    profile = dataclasses.replace(base, name=name, **values)
    if profile.do_sample and profile.temperature <= 0:
        problems.append(f"profile {name!r}: temperature must be > 0 when sampling")
        profile = dataclasses.replace(profile, temperature=base.temperature)
    return profile, problems
