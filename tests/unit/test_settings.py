"""Settings and profiles: defaults, layers, validation tables."""

from __future__ import annotations

import pytest

from distill_lsp.profiles import BUILTIN_PROFILES, validate_profile
from distill_lsp.settings import Settings, apply_options, env_layer, option_keys, resolve, unwrap_section


def test_defaults() -> None:
    s = Settings()
    assert s.model == "auto" and s.profile == "auto"  # greedy on code, coding in comments (measured)
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


def test_server_owned_settings_are_those_that_reload_the_model() -> None:
    """Every setting the shared engine's model key reads is server-owned, so no TCP client can
    make the shared model reload (or point the backend elsewhere)."""
    from distill_lsp.engine.factory import model_key
    from distill_lsp.settings import OPTIONS, Settings, server_owned_keys

    class Reading:
        def __init__(self, settings: Settings) -> None:
            self.settings, self.read = settings, set()

        def __getattr__(self, name: str):
            self.read.add(name)
            return getattr(self.settings, name)

    read = set()
    for backend in ("local", "openai"):
        probe = Reading(Settings(backend=backend))
        model_key(probe)  # type: ignore[arg-type]
        read |= probe.read
    owned_attrs = {o.attr for o in OPTIONS if o.key in server_owned_keys()}
    assert read - owned_attrs == set(), "settings that reload the shared model but a TCP client may send"
    assert {"model", "device", "backend", "endpoint", "api_key_env", "cache_dir", "tokenizer"} <= owned_attrs


def test_a_shared_server_ignores_server_owned_keys_with_one_message() -> None:
    from lsprotocol import types

    from tests.fixtures.lsp_wire import make_distill_server

    for shared, ignored in ((True, True), (False, False)):
        server, _, writer = make_distill_server(base_layers=({"model": "server-model"},), shared=shared)
        settings = server.update_settings({"model": "mine", "apiKeyEnv": "HOME", "maxNewTokens": 7}, "test")
        shown = [m["params"]["message"] for m in writer.messages() if m.get("method") == types.WINDOW_SHOW_MESSAGE]
        assert settings.max_new_tokens == 7, "a session's own settings apply"
        assert (settings.model, settings.api_key_env) == (("server-model", "") if ignored else ("mine", "HOME"))
        assert len(shown) == int(ignored) and all("apiKeyEnv, model" in m for m in shown), shown
        server.engine.close()
