"""Run-time profiles: validation tables, the `auto` rule, the setProfile arguments."""

from __future__ import annotations

import pytest

from distill_lsp.completion.prompt import effective_profile, in_docstring
from distill_lsp.completion.rules import SINGLE_LINE, CursorPlace, Mode, ModeKind
from distill_lsp.features.set_profile import ProfileSwitchError, switch_layer
from distill_lsp.profiles import BUILTIN_PROFILES, auto_profile, describe_auto, validate_profile
from distill_lsp.settings import Settings, apply_options, resolve

BLOCK = Mode(ModeKind.MULTI_LINE, "    ", 4)


@pytest.mark.parametrize("fields, problem", [
    ({"temperature": 0}, "temperature must be a number in (0, 5]"),
    ({"temperature": 5.5}, "temperature must be a number in (0, 5]"),
    ({"temperature": float("nan")}, "temperature must be a number in (0, 5]"),
    ({"temperature": "hot"}, "temperature must be a number in (0, 5]"),
    ({"temperature": True}, "temperature must be a number in (0, 5]"),
    ({"topP": 0}, "topP must be a number in (0, 1]"),
    ({"topP": 1.01}, "topP must be a number in (0, 1]"),
    ({"topK": 1001}, "topK must be an integer in [0, 1000]"),
    ({"topK": 2.5}, "topK must be an integer in [0, 1000]"),
    ({"repetitionPenalty": 0.4}, "repetitionPenalty must be a number in [0.5, 3]"),
    ({"repetitionPenalty": 3.5}, "repetitionPenalty must be a number in [0.5, 3]"),
    ({"maxNewTokens": 0}, "maxNewTokens must be an integer in [1, 8192]"),
    ({"maxNewTokens": 9000}, "maxNewTokens must be an integer in [1, 8192]"),
    ({"doSample": "yes"}, "doSample must be true or false"),
    ({"temprature": 0.3}, "unknown field 'temprature'"),
])
def test_each_bad_field_named_with_range_and_valid_parts_apply(fields, problem) -> None:
    profile, problems = validate_profile("mine", {**fields, "top_k": 40}, BUILTIN_PROFILES["coding"])
    assert len(problems) == 1 and problem in problems[0] and "'mine'" in problems[0]
    assert profile.top_k == 40  # the valid field applied
    assert profile.temperature == 0.65 or "temperature" not in problem


@pytest.mark.parametrize("fields, expected", [
    ({"temperature": 0.3}, {"temperature": 0.3}),
    ({"temperature": 1, "topP": 0.9}, {"temperature": 1.0, "top_p": 0.9}),
    ({"topK": 0, "repetitionPenalty": 1}, {"top_k": 0, "repetition_penalty": 1.0}),
    ({"doSample": False}, {"do_sample": False}),
    ({"maxNewTokens": 16}, {"max_new_tokens": 16}),
])
def test_valid_fields(fields, expected) -> None:
    profile, problems = validate_profile("mine", fields)
    assert problems == []
    assert {k: getattr(profile, k) for k in expected} == expected


@pytest.mark.parametrize("mode_kind, in_comment, name, temperature", [
    ("single_line", False, "auto:greedy", None),
    ("multi_line", False, "auto:greedy", None),
    ("single_line", True, "auto:coding", 0.65),
    ("multi_line", True, "auto:precise", 0.45),
])
def test_auto_rule(mode_kind, in_comment, name, temperature) -> None:
    profile = auto_profile(mode_kind, in_comment)
    assert profile.name == name and profile.do_sample is (temperature is not None)
    assert temperature is None or profile.temperature == temperature


@pytest.mark.parametrize("mode, place, prefix, expected", [
    (SINGLE_LINE, CursorPlace(), "x = foo(", "auto:greedy"),
    (BLOCK, CursorPlace(), "def f():\n    ", "auto:greedy"),
    (SINGLE_LINE, CursorPlace(in_comment=True), "# compute the ", "auto:coding"),
    (SINGLE_LINE, CursorPlace(in_string=True), 'def f():\n    """Return the ', "auto:coding"),
    (BLOCK, CursorPlace(in_string=True), 'def f():\n    """\n    ', "auto:precise"),
    (SINGLE_LINE, CursorPlace(in_string=True), 'x = "abc', "auto:greedy"),  # a plain string is code
])
def test_effective_profile_follows_the_request(mode, place, prefix, expected) -> None:
    assert effective_profile(Settings(profile="auto").sampling_profile(), mode, place, prefix).name == expected


def test_describe_auto_follows_the_rule() -> None:
    assert describe_auto() == ("auto (single line: greedy; block: greedy; "
                               "in a comment or docstring line: coding 0.65; docstring block: precise 0.45)")


def test_fixed_profile_is_kept_whatever_the_request() -> None:
    coding = BUILTIN_PROFILES["coding"]
    assert effective_profile(coding, SINGLE_LINE, CursorPlace(in_comment=True), "# x") is coding


def test_docstring_shape() -> None:
    assert in_docstring(CursorPlace(in_string=True), "'''abc")
    assert not in_docstring(CursorPlace(in_string=True), '"""doc"""\nx = "a')
    assert not in_docstring(CursorPlace(), '"""abc')


def test_auto_is_a_known_profile_and_cannot_be_redefined() -> None:
    s, problems = resolve({"profile": "auto"})
    assert problems == [] and s.profile == "auto" and "auto" in s.profile_names()
    assert "single line: greedy" in s.sampling_profile().describe()
    s, problems = apply_options(s, {"profiles": {"auto": {"temperature": 0.1}}})
    assert problems and "built in" in problems[0]
    assert s.sampling_profile().name == "auto"


@pytest.mark.parametrize("arguments, layer", [
    (["precise"], {"profile": "precise"}),
    (["auto", "completion"], {"profile": "auto"}),
    ([{"profile": "greedy"}], {"profile": "greedy"}),
    ([{"profile": "creative", "feature": "completion"}], {"profile": "creative"}),
])
def test_set_profile_arguments(arguments, layer) -> None:
    assert switch_layer(Settings(), arguments) == layer


def test_set_profile_user_defined() -> None:
    s, _ = resolve({"profiles": {"mine": {"temperature": 0.2}}})
    assert switch_layer(s, ["mine"]) == {"profile": "mine"}


@pytest.mark.parametrize("arguments, message", [
    ([], "takes a profile name"),
    (["a", "b", "c"], "takes a profile name"),
    ([3], "takes a profile name"),
    (["wild"], "unknown profile 'wild'; known: auto, coding, creative, greedy, precise"),
    (["coding", "painting"], "unknown feature 'painting'; known: completion"),
])
def test_set_profile_bad_arguments(arguments, message) -> None:
    with pytest.raises(ProfileSwitchError, match=message.replace("(", r"\(")):
        switch_layer(Settings(), arguments)
