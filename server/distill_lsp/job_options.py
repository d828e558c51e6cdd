"""The options of a model for each job (`completionModel`, `actionModel` and their backends,
see `engine/roles.py`) and of the Fix / Document search (`actions/search.py`): the fields
of entries of `settings.OPTIONS`, kept here so that the table stays readable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _backend(v: Any) -> bool:
    return v in ("", "local", "openai")


def _tries(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 16


def _seconds(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 3600


def Option(key: str, attr: str, doc: str, check: Callable[[Any], bool], allowed: str,  # noqa: N802
           **more: Any) -> dict[str, Any]:
    """The fields of one `settings.Option` (which builds it: no import cycle)."""
    return {"key": key, "attr": attr, "doc": doc, "check": check, "allowed": allowed, **more}

JOB_MODEL_OPTIONS: tuple[dict[str, Any], ...] = (
    Option("completionModel", "completion_model",
           "Model for inline and classic completions, in the forms of `model` (with backend `openai`: the "
           "remote model's name); empty: `model`. A FIM code model (e.g. Qwen/Qwen2.5-Coder-1.5B) suits them.",
           _is_str, "a string", env="DISTILL_LSP_COMPLETION_MODEL", server_owned=True),
    Option("actionModel", "action_model",
           "Model for Explain / Fix / Document, in the forms of `model` (with backend `openai`: the remote "
           "model's name); empty: `model`. When it resolves like the completion model, one copy serves both.",
           _is_str, "a string", env="DISTILL_LSP_ACTION_MODEL", server_owned=True),
    Option("completionBackend", "completion_backend",
           "Backend of completions: `local` or `openai`; empty: `backend`.",
           _backend, "empty, local or openai", env="DISTILL_LSP_COMPLETION_BACKEND",
           server_owned=True),
    Option("actionBackend", "action_backend",
           "Backend of Explain / Fix / Document: `local` or `openai`; empty: `backend`.",
           _backend, "empty, local or openai", env="DISTILL_LSP_ACTION_BACKEND",
           server_owned=True),
)

ACTION_SEARCH_OPTIONS: tuple[dict[str, Any], ...] = (
    Option("actionTries", "action_tries",
           "Fix / Document: most candidates the model generates (the first greedy, the rest sampled) until one "
           "parses, leaves the diagnostics behind and changes the least (Document: names every parameter); "
           "1: one generation.", _tries, "an integer in [1, 16]"),
    Option("actionBudgetSeconds", "action_budget_seconds",
           "Fix / Document: no further candidate starts after this many seconds, and a running one stops "
           "(the first always finishes); 0: no limit.", _seconds, "seconds in [0, 3600]"),
    Option("parserRepair", "parser_repair",
           "Fix: offer the one-token insertion (a `:`, a closing bracket...) the parser finds, when it finds "
           "exactly one, without asking the model.", lambda v: isinstance(v, bool), "true or false"),
)
