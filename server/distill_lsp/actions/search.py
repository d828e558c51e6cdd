"""Fix and Document by search: candidates, under a time budget, until one passes every check.

`run_action` is what the engine worker runs for any action. Explain (and a one-shot
configuration) is one generation (`run.run`). Fix and Document try candidates in turn:

1. Fix only, with `parser_repair`: the one-token insertion the parser finds, when it finds
   exactly one (`repair.unique_repair`): "expected ':'" gets its colon without the model.
2. Model tries: the first greedy, the rest sampled (the action's profile, or `precise`
   when that one is greedy), each with its own seed. The Fix prompt carries the tokens
   tree-sitter names as MISSING.
3. Each answer is judged (`judge.py`): of the edits it proposes (the whole answer and the
   parts of it, line hunks, smallest first) the first that parses, leaves the diagnostics
   it was asked to fix behind and, for Document, names the parameters, is accepted.

The search stops at the first accepted candidate, when the tries or the time budget are
spent, or when the token is cancelled. The result says how many model tries it took and
what became of each (`ActionOutput.tries`, `attempts`).
"""

from __future__ import annotations

import dataclasses
import logging
import time

from ..completion.rules import detect_indent_unit
from ..engine.types import CancelToken
from ..profiles import BUILTIN_PROFILES, SamplingProfile
from .answer import prompt_opens_think
from .edits import ReplacementResult, proposed_text
from .judge import Verdict, judge_document, judge_fix, line_proposal, narrowed, parameter_names
from .leads import first_problem_row, lead_for
from .prompts import ActionKind
from .repair import MissingToken, missing_tokens, single_token_repairs, unique_repair
from .run import ActionConfig, ActionError, ActionInput, ActionOutput, Backend, Progress, build_prompt, run

logger = logging.getLogger(__name__)

LINE_TOKENS = 96
"""Most tokens of a one-line Fix answer."""
SAMPLED_FALLBACK = "precise"
"""The profile of the sampled tries when the action's own profile is greedy."""


def run_action(job: ActionInput, backend: Backend, token: CancelToken, config: ActionConfig,
               progress: Progress | None = None, request_id: str = "") -> ActionOutput:
    """The action on the engine worker: one generation for Explain, a search for Fix / Document."""
    if job.kind is ActionKind.EXPLAIN or (config.tries <= 1 and not config.parser_repair):
        return run(job, backend, token, config, progress, request_id)
    return search(job, backend, token, config, progress, request_id)


def parser_hints(job: ActionInput) -> tuple[str, ...]:
    """What the parser knows, as lines for the prompt: the MISSING tokens tree-sitter names
    in the target, else the one-token insertions after which it parses (at most two)."""
    if job.language is None:
        return ()
    tree = job.language.parser().parse(job.text.encode("utf-8", "surrogatepass"))
    first_row = job.text.count("\n", 0, job.start)
    named = [m.describe(job.text, first_row) for m in missing_tokens(tree, job.text, job.start, job.end)]
    if named:
        return tuple(named)
    repairs = single_token_repairs(job.text, job.start, job.end, job.language.language, job.language.name)[:2]
    return tuple(MissingToken(r.token, r.offset, job.text.count("\n", 0, r.offset)).describe(job.text, first_row)
                 for r in repairs)


def document_hints(job: ActionInput) -> tuple[str, ...]:
    names = parameter_names(job)
    return (f"parameters to describe: {', '.join(f'`{n}`' for n in names)}",) if names else ()


def sampled_profile(profile: SamplingProfile) -> SamplingProfile:
    return profile if profile.do_sample else BUILTIN_PROFILES[SAMPLED_FALLBACK]


def search(job: ActionInput, backend: Backend, token: CancelToken, config: ActionConfig,
           progress: Progress | None = None, request_id: str = "") -> ActionOutput:
    """Candidates until one is accepted (see the module's docstring)."""
    if job.language is None:
        raise ActionError("no grammar for this language, so an edit could not be checked")
    started = time.perf_counter()
    if job.kind is ActionKind.FIX and config.parser_repair:
        repaired = parser_repair(job, started)
        if repaired is not None:
            return repaired
    if job.kind is ActionKind.FIX:
        job = dataclasses.replace(job, hints=parser_hints(job))
    else:
        job = dataclasses.replace(job, hints=document_hints(job))
    job = dataclasses.replace(job, lead=lead_for(job))
    opened = not getattr(backend, "chat_api", False) and prompt_opens_think(
        build_prompt(job, getattr(backend, "tokenizer", None)))
    state = _Search(job, config, started, opened, tuple(getattr(backend.info, "special_tokens", ()) or ()))
    last: ActionOutput | None = None
    for number in range(1, config.tries + 1):
        if token.cancelled:
            break
        if number > 1 and config.budget_s and time.perf_counter() - started > config.budget_s:
            state.attempts.append(f"time budget of {config.budget_s:g} s spent after {number - 1} tries")
            break
        last = run(state.job_for(number), backend, token, state.config_for(number),
                   state.progress_for(number, progress), request_id)
        state.tokens += last.new_tokens
        if last.cancelled:
            return state.finish(last, number)
        accepted = state.judge(last, number)
        if accepted is not None:
            return state.finish(last, number, accepted)
    if last is None:  # cancelled before the first try
        result = ActionOutput(job.kind, "", cancelled=True)
        result.attempts = state.attempts
        return result
    return state.finish(last, state.tried, state.best)


def parser_repair(job: ActionInput, started: float) -> ActionOutput | None:
    """The one-token insertion the parser finds in the target, as an accepted Fix."""
    assert job.language is not None
    repair = unique_repair(job.text, job.start, job.end, job.language.language, job.language.name)
    if repair is None:
        return None
    row = job.text.count("\n", 0, repair.offset) - job.text.count("\n", 0, job.start) + 1
    how = "named MISSING by tree-sitter" if repair.named else "the only one-token insertion that parses"
    result = ActionOutput(job.kind, "", answer=repair.token, tries=0, repaired_by="parser")
    result.replacement = ReplacementResult(repair.offset, repair.offset, repair.token)
    result.attempts = [f"parser: inserted `{repair.token}` on line {row} ({how}): accepted"]
    result.timings = {"total_ms": (time.perf_counter() - started) * 1000}
    return result


class _Search:
    """The bookkeeping of one search: configs per try, progress, verdicts, the best so far."""

    def __init__(self, job: ActionInput, config: ActionConfig, started: float, opened: bool,
                 special: tuple[str, ...]) -> None:
        self.job, self.config, self.started = job, config, started
        self.opened, self.special = opened, special
        self.attempts: list[str] = []
        self.tokens = 0
        self.tried = 0
        self.best: Verdict | None = None
        """Document: the best candidate that parses but does not name every parameter."""
        self.indent_unit = detect_indent_unit(job.text)
        self.problem_row = first_problem_row(job) if job.kind is ActionKind.FIX else None

    def focus_for(self, number: int) -> int | None:
        """Fix: the line a try rewrites alone: the first problem's, twice, then the one
        above it; later tries (and targets without a known problem line) rewrite the whole."""
        row = self.problem_row
        if row is None or number > 3:
            return None
        return row if number < 3 else (row - 1 if row > 0 else None)

    def job_for(self, number: int) -> ActionInput:
        focus = self.focus_for(number)
        if focus is None:
            return self.job
        line = self.job.code.split("\n")[focus]
        return dataclasses.replace(self.job, focus_row=focus, lead=line[:len(line) - len(line.lstrip())])

    def config_for(self, number: int) -> ActionConfig:
        greedy = number == 1
        profile = BUILTIN_PROFILES["greedy"] if greedy else sampled_profile(self.config.profile)
        max_new = self.config.max_new_tokens if self.focus_for(number) is None else min(self.config.max_new_tokens,
                                                                                          LINE_TOKENS)
        deadline = None if greedy or not self.config.budget_s else self.started + self.config.budget_s
        return dataclasses.replace(self.config, profile=profile, seed=(self.config.seed or 0) + number - 1,
                                   max_new_tokens=max_new, deadline=deadline)

    def progress_for(self, number: int, progress: Progress | None) -> Progress | None:
        if progress is None:
            return None
        how = "greedy" if number == 1 else "sampled"
        done, total = self.tokens, self.config.tries
        return lambda tokens, phase: progress(done + tokens, f"try {number}/{total}, {how}: {phase}")

    def judge(self, result: ActionOutput, number: int) -> Verdict | None:
        """The accepted candidate of this try, or None (its reason is kept in `attempts`)."""
        self.tried = number
        how = "greedy" if number == 1 else "sampled"
        job = self.job
        assert job.language is not None
        focus = self.focus_for(number)
        if focus is None:
            proposed = proposed_text(job.text, job.start, job.end, result.raw, job.language.name, self.indent_unit,
                                     special_tokens=self.special, prompt_opened_think=self.opened)
        else:
            proposed = line_proposal(job, focus, result.raw, self.special, self.opened)
        if proposed.new_text is None:
            self.attempts.append(f"try {number} ({how}): {proposed.refusal}")
            self.last_refusal = proposed.refusal
            return None
        if job.kind is ActionKind.FIX:
            verdict = judge_fix(job, proposed)
        else:
            verdict = judge_document(job, proposed)
            if verdict.replacement is not None and not verdict.accepted:
                if self.best is None or verdict.score > self.best.score:
                    self.best = verdict
        self.attempts.append(f"try {number} ({how}): {verdict.note}")
        self.last_refusal = verdict.note
        return verdict if verdict.accepted else None

    last_refusal: str | None = None

    def finish(self, last: ActionOutput, tries: int, accepted: Verdict | None = None) -> ActionOutput:
        result = dataclasses.replace(last, tries=tries, attempts=self.attempts, new_tokens=self.tokens)
        result.timings = {"total_ms": (time.perf_counter() - self.started) * 1000}
        if last.cancelled:
            return result
        if accepted is not None and accepted.replacement is not None:
            result.replacement = narrowed(self.job.text, accepted.replacement)
            return result
        seconds = time.perf_counter() - self.started
        why = self.last_refusal or "no candidate"
        start = self.job.start
        result.replacement = ReplacementResult(start, self.job.end, None,
                                               f"{why} (after {tries} {'try' if tries == 1 else 'tries'} "
                                               f"in {seconds:.1f} s)")
        return result
