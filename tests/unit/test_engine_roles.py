"""A model for each job: the settings each job loads with, and the engines of a process.
(Loads one at a time: `tests/e2e/test_two_models.py` loads two models at once.)"""

from __future__ import annotations

from distill_lsp.engine.factory import model_key
from distill_lsp.engine.roles import ACTIONS, COMPLETION, EnginePool, role_settings
from distill_lsp.settings import Settings, apply_options, server_owned_keys


def test_each_job_overrides_model_and_backend_and_falls_back_to_them() -> None:
    base = Settings(model="org/base")
    assert role_settings(base, COMPLETION).model == role_settings(base, ACTIONS).model == "org/base"
    assert model_key(role_settings(base, COMPLETION)) == model_key(role_settings(base, ACTIONS))
    two = Settings(model="org/base", completion_model="Qwen/Qwen2.5-Coder-1.5B",
                   action_model="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")
    assert role_settings(two, COMPLETION).model == "Qwen/Qwen2.5-Coder-1.5B"
    assert role_settings(two, ACTIONS).model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert model_key(role_settings(two, COMPLETION)) != model_key(role_settings(two, ACTIONS))


def test_a_job_on_a_teams_server_names_the_remote_model() -> None:
    s = Settings(action_backend="openai", action_model="deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
                 endpoint="http://gpu:8000/v1")
    actions, completion = role_settings(s, ACTIONS), role_settings(s, COMPLETION)
    assert (actions.backend, actions.remote_model) == ("openai", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")
    assert (completion.backend, completion.model) == ("local", "auto")


def test_the_keys_are_checked_and_server_owned() -> None:
    new, problems = apply_options(Settings(), {"completionModel": "x/y", "actionBackend": "gpu", "actionTries": 0})
    assert new.completion_model == "x/y" and new.action_backend == "" and new.action_tries == 4
    assert len(problems) == 2
    assert {"completionModel", "actionModel", "completionBackend", "actionBackend"} <= server_owned_keys()


def test_the_pool_gives_actions_a_second_engine_only_for_another_model() -> None:
    pool = EnginePool()
    try:
        assert pool.actions(separate=False) is pool.completion and pool.engines() == [pool.completion]
        second = pool.actions(separate=True)
        assert second is not pool.completion and pool.actions(separate=True) is second
        assert pool.engines() == [pool.completion, second]
        pool.drop_actions()
        assert pool.engines() == [pool.completion]
    finally:
        pool.close()
        pool.join(5)
