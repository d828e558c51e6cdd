"""Sampling a case through the server's own pipeline: one `completion.pipeline.run` per
sample, with the sample's seed, for each setting (a temperature or a profile)."""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..completion import pipeline
from ..completion.types import CompletionConfig
from ..engine.types import CancelToken
from ..profiles import COMPLETION_MAX_LINES, COMPLETION_MAX_NEW_TOKENS, SamplingProfile
from ..settings import Settings
from .cases import SweepCase
from .metrics import Measures, measure

logger = logging.getLogger(__name__)

DEFAULT_TEMPERATURES = (0.2, 0.4, 0.6, 0.65, 0.8, 1.0, 1.2)


@dataclass(frozen=True)
class Setting:
    """One column of the sweep: a label and the profile its samples use."""

    label: str
    profile: SamplingProfile
    temperature: float | None


@dataclass
class SettingResult:
    setting: Setting
    answers: list[str]
    ungated: list[str]
    profiles_used: list[str]
    measures: Measures


def temperature_settings(base: SamplingProfile, temperatures: Sequence[float]) -> list[Setting]:
    """`base` (top_p, top_k, repetition penalty) at each temperature, sampling."""
    return [Setting(f"{t:g}", dataclasses.replace(base, name=f"T={t:g}", temperature=t, do_sample=True), t)
            for t in temperatures]


def profile_settings(settings: Settings, names: Sequence[str]) -> list[Setting]:
    """Named profiles (built-in, user-defined, or `auto`)."""
    out = []
    for name in names:
        profile = settings.sampling_profile(name)
        temperature = profile.temperature if profile.do_sample and name != "auto" else None
        out.append(Setting(name, profile, temperature))
    return out


def load_backend(settings: Settings) -> Any:
    """The backend the server would load for these settings."""
    from ..engine.factory import make_backend_factory

    return make_backend_factory(settings)()


def sample_setting(case: SweepCase, backend: Any, setting: Setting, samples: int, seed: int,
                   max_new_tokens: int, max_lines: int, progress: Any = None) -> SettingResult:
    """`samples` runs of the pipeline; sample i has seed `seed + i` in every setting. No
    further tries (`retries` 0): a sweep compares what each profile writes first, and a
    second try's forced first token would blur that."""
    snap = case.snapshot()
    answers, ungated, used = [], [], []
    for i in range(samples):
        config = CompletionConfig(profile=setting.profile, max_new_tokens=max_new_tokens, max_lines=max_lines,
                                  seed=seed + i)
        suggestion = pipeline.run(snap, backend, CancelToken(), config, request_id=f"sweep-{setting.label}-{i}")
        answers.append(suggestion.text)
        ungated.append(suggestion.ungated)
        used.append(suggestion.profile)
        if progress is not None:
            progress.update(1)
    return SettingResult(setting, answers, ungated, used,
                         measure(setting.label, setting.temperature, case, answers, ungated))


def sweep(case: SweepCase, backend: Any, settings_list: Sequence[Setting], *, samples: int, seed: int = 0,
          max_new_tokens: int = COMPLETION_MAX_NEW_TOKENS, max_lines: int = COMPLETION_MAX_LINES,
          show_progress: bool = True) -> list[SettingResult]:
    """Every setting of the sweep, with a progress bar on stderr."""
    from tqdm import tqdm

    with tqdm(total=samples * len(settings_list), desc=f"sweep {case.name}", unit="sample", file=sys.stderr,
              disable=not show_progress, leave=False) as bar:
        return [sample_setting(case, backend, s, samples, seed, max_new_tokens, max_lines, bar)
                for s in settings_list]
