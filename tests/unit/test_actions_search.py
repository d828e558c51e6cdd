"""The Fix / Document search on a real (tiny, random) Qwen2: one progress phase per try,
the first greedy and the rest sampled, the time budget, cancellation, the parser's repair,
and never an edit that adds a syntax error."""

from __future__ import annotations


import pytest

from distill_lsp.actions.edits import apply_replacement
from distill_lsp.actions.prompts import ActionKind
from distill_lsp.actions.run import ActionConfig, ActionInput
from distill_lsp.actions.search import run_action
from distill_lsp.context.languages import detect_language
from distill_lsp.engine.factory import make_backend_factory
from distill_lsp.engine.types import CancelToken
from distill_lsp.profiles import BUILTIN_PROFILES
from distill_lsp.settings import Settings
from tests.fixtures.tiny_r1 import build_tiny_r1

PY = detect_language("python", None)
BROKEN = "def mean(values):\n    total = 0\n    for v in values\n        total += v\n    return total / len(values)\n"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = build_tiny_r1(tmp_path_factory.mktemp("tiny") / "tiny-r1")
    settings = Settings(model=str(folder), threads=1, quantize="none", kernels="dense-fp32",
                        cache_dir=str(tmp_path_factory.mktemp("cache")))
    return make_backend_factory(settings)()


def config(**kw) -> ActionConfig:  # type: ignore[no-untyped-def]
    base = dict(profile=BUILTIN_PROFILES["precise"], max_new_tokens=12, reasoning_tokens=4, seed=0, tries=3)
    return ActionConfig(**(base | kw))


def fix(diagnostics: tuple[str, ...] = ("expected ':'",)) -> ActionInput:
    return ActionInput(ActionKind.FIX, BROKEN, 0, len(BROKEN), PY, "m.py", diagnostics)


def test_every_try_reports_progress_and_a_refusal_says_how_many_tries(backend) -> None:  # type: ignore[no-untyped-def]
    phases: list[str] = []
    result = run_action(fix(), backend, CancelToken(), config(), lambda tokens, phase: phases.append(phase))
    tries = sorted({p.split(",")[0] for p in phases})
    assert tries == ["try 1/3", "try 2/3", "try 3/3"], phases
    assert any(p.startswith("try 1/3, greedy") for p in phases) and any(p.startswith("try 3/3, sampled") for p in phases)
    assert len(result.attempts) == 3 and result.tries == 3
    replacement = result.replacement
    assert replacement is not None
    if replacement.ok:  # whatever the random model wrote, an offered edit parses
        assert not PY.parser().parse(apply_replacement(BROKEN, replacement).encode()).root_node.has_error
    else:
        assert replacement.refusal.endswith("(after 3 tries in " + replacement.refusal.rsplit(" in ", 1)[1])


def test_the_time_budget_stops_further_tries(backend) -> None:  # type: ignore[no-untyped-def]
    result = run_action(fix(), backend, CancelToken(), config(tries=5, budget_s=1e-6))
    assert result.tries == 1 and result.attempts[-1] == "time budget of 1e-06 s spent after 1 tries"


def test_a_cancelled_search_stops_before_any_try(backend) -> None:  # type: ignore[no-untyped-def]
    token = CancelToken()
    token.cancel()
    result = run_action(fix(), backend, token, config())
    assert result.cancelled and result.replacement is None


def test_cancelling_during_the_first_try_ends_the_search(backend) -> None:  # type: ignore[no-untyped-def]
    token = CancelToken()
    seen: list[str] = []

    def progress(tokens: int, phase: str) -> None:
        seen.append(phase)
        token.cancel()

    result = run_action(fix(), backend, token, config(), progress)
    assert result.cancelled and {p.split(",")[0] for p in seen} == {"try 1/3"}


def test_the_parsers_repair_comes_first_without_the_model(backend) -> None:  # type: ignore[no-untyped-def]
    result = run_action(fix(), backend, CancelToken(), config(parser_repair=True))
    assert (result.tries, result.repaired_by) == (0, "parser")
    assert apply_replacement(BROKEN, result.replacement) == BROKEN.replace("in values\n", "in values:\n")
    assert result.attempts == ["parser: inserted `:` on line 3 (the only one-token insertion that parses): accepted"]


def test_explain_stays_one_generation(backend) -> None:  # type: ignore[no-untyped-def]
    good = BROKEN.replace("in values\n", "in values:\n")
    phases: list[str] = []
    job = ActionInput(ActionKind.EXPLAIN, good, 0, len(good), PY, "m.py")
    result = run_action(job, backend, CancelToken(), config(), lambda t, p: phases.append(p))
    assert result.markdown is not None and not any(p.startswith("try") for p in phases)
