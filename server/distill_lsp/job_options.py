"""The options of a model for each job (`completionModel`, `actionModel` and their backends,
see `engine/roles.py`) and of the Fix / Document search (`actions/search.py`): entries of
`settings.OPTIONS`, kept here so that the table stays readable."""

from __future__ import annotations

from .settings import Option, _is_int, _is_number, _is_str, _one_of

JOB_MODEL_OPTIONS: tuple[Option, ...] = (
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
           _one_of("", "local", "openai"), "empty, local or openai", env="DISTILL_LSP_COMPLETION_BACKEND",
           server_owned=True),
    Option("actionBackend", "action_backend",
           "Backend of Explain / Fix / Document: `local` or `openai`; empty: `backend`.",
           _one_of("", "local", "openai"), "empty, local or openai", env="DISTILL_LSP_ACTION_BACKEND",
           server_owned=True),
)

ACTION_SEARCH_OPTIONS: tuple[Option, ...] = (
    Option("actionTries", "action_tries",
           "Fix / Document: most candidates the model generates (the first greedy, the rest sampled) until one "
           "parses, leaves the diagnostics behind and changes the least (Document: names every parameter); "
           "1: one generation.", _is_int(1, 16), "an integer in [1, 16]"),
    Option("actionBudgetSeconds", "action_budget_seconds",
           "Fix / Document: no further candidate starts after this many seconds, and a running one stops "
           "(the first always finishes); 0: no limit.", _is_number(0, 3600), "seconds in [0, 3600]"),
    Option("parserRepair", "parser_repair",
           "Fix: offer the one-token insertion (a `:`, a closing bracket...) the parser finds, when it finds "
           "exactly one, without asking the model.", lambda v: isinstance(v, bool), "true or false"),
)
