"""Settings and profiles: defaults, layers, validation tables."""

from __future__ import annotations

import pytest

from distill_lsp.profiles import BUILTIN_PROFILES, validate_profile
from distill_lsp.settings import Settings, apply_options, env_layer, option_keys, resolve, unwrap_section


def test_defaults() -> None:
    s = Settings()
    assert s.model == "auto" and s.profile == "coding"
    coding = s.sampling_profile()
    assert (coding.temperature, coding.top_p, coding.repetition_penalty) == (0.65, 0.95, 1.1)
    assert BUILTIN_PROFILES["precise"].temperature == 0.45
    assert BUILTIN_PROFILES["creative"].temperature == 0.85
    assert not BUILTIN_PROFILES["greedy"].do_sample


def test_layers_later_wins() -> None:
    s, problems = resolve({"model": "a/b", "maxNewTokens": 10}, {"maxNewTokens": 20})
    assert (s.model, s.max_new_tokens, problems) == ("a/b", 20, [])


@pytest.mark.parametrize("layer, problem", [
    ({"maxNewTokens": 0}, "maxNewTokens must be an integer in [1, 1024]"),
    ({"maxNewTokens": "12"}, "maxNewTokens must be"),
    ({"maxNewTokens": True}, "maxNewTokens must be"),
    ({"model": ""}, "model must be a non-empty string"),
    ({"device": "tpu"}, "device must be auto, cpu, cuda or cuda:N"),
    ({"dtype": "int3"}, "dtype must be"),
    ({"profile": "wild"}, "profile 'wild' is unknown"),
    ({"nonsense": 1}, "unknown setting 'nonsense'"),
    ({"profiles": {"mine": {"temperature": -1}}}, "temperature must be a number in (0, 5]"),
    ({"profiles": {"mine": {"topP": 1.5}}}, "topP must be a number in (0, 1]"),
    ({"profiles": {"mine": {"topK": -3}}}, "topK must be an integer in [0, 1000]"),
    ({"profiles": {"mine": {"bogus": 1}}}, "unknown field 'bogus'"),
    ({"profiles": {"mine": 3}}, "profile 'mine' must be an object"),
])
def test_bad_fields_are_reported_and_the_rest_applies(layer, problem) -> None:
    before = Settings(max_new_tokens=33)
    after, problems = apply_options(before, {**layer, "threads": 3})
    assert any(problem in p for p in problems), problems
    assert after.threads == 3  # the valid part applied
    if "maxNewTokens" in layer:
        assert after.max_new_tokens == 33  # the previous valid value stays


def test_user_profile_over_builtin_and_switch() -> None:
    s, problems = resolve({"profiles": {"mine": {"temperature": 0.3, "topP": 0.9}}, "profile": "mine"})
    assert problems == []
    p = s.sampling_profile()
    assert (p.name, p.temperature, p.top_p, p.repetition_penalty) == ("mine", 0.3, 0.9, 1.1)
    s2, problems = apply_options(s, {"profiles": {"mine": {"temperature": 9}}})
    assert problems and s2.sampling_profile().temperature == 0.3


def test_validate_profile_keeps_valid_fields() -> None:
    profile, problems = validate_profile("x", {"temperature": 0.0, "top_p": 0.5})
    assert profile.top_p == 0.5 and profile.temperature == BUILTIN_PROFILES["coding"].temperature
    assert len(problems) == 1


def test_section_and_env() -> None:
    assert unwrap_section({"distill": {"model": "x"}}) == {"model": "x"}
    assert unwrap_section({"model": "x"}) == {"model": "x"}
    assert unwrap_section(None) == {}
    assert env_layer({"DISTILL_LSP_MODEL": "m", "DISTILL_LSP_THREADS": "2"}) == {"model": "m", "threads": 2}
    assert {"model", "profile", "maxNewTokens"} <= option_keys()


def test_non_object_settings() -> None:
    s, problems = apply_options(Settings(), [1, 2])
    assert s == Settings() and problems == ["settings must be an object, got list"]
