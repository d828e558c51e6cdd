"""What the playground's page asks of the model: suggestions of several profiles at one
cursor, and a small sweep; every model call runs on the engine worker."""

from __future__ import annotations

import asyncio
import base64
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..completion import pipeline
from ..completion.types import CompletionConfig
from ..context.languages import detect_language
from ..engine.factory import make_backend_factory
from ..engine.worker import Engine
from ..profiles import AUTO, BUILTIN_PROFILES, SamplingProfile, validate_profile
from ..settings import Settings
from ..sweep.cases import SweepCase
from ..sweep.report import PlotUnavailable, markdown_table, write_plot
from ..sweep.sampling import sweep, temperature_settings

logger = logging.getLogger(__name__)

MAX_PROFILES = 3
MAX_SWEEP_SAMPLES = 8
MAX_SWEEP_TEMPERATURES = 7
MAX_CODE_CHARS = 100_000


class PlaygroundError(ValueError):
    """A request the page should not have sent; the message is shown to the user."""


def profile_from_fields(fields: Mapping[str, Any]) -> tuple[SamplingProfile, list[str]]:
    """A profile from the page: `{name, base?, temperature?, topP?, topK?, repetitionPenalty?}`."""
    name = str(fields.get("name") or "custom")
    if name == AUTO and set(fields) <= {"name"}:
        return Settings().sampling_profile(AUTO), []
    base = BUILTIN_PROFILES.get(str(fields.get("base") or name), BUILTIN_PROFILES["coding"])
    values = {k: v for k, v in fields.items() if k not in ("name", "base") and v not in (None, "")}
    return validate_profile(name, values, base)


def make_case(code: str, offset: int, language: str | None) -> SweepCase:
    if len(code) > MAX_CODE_CHARS:
        raise PlaygroundError(f"the code is longer than {MAX_CODE_CHARS} characters")
    if not 0 <= offset <= len(code):
        raise PlaygroundError(f"cursor {offset} is outside the code (0..{len(code)})")
    return SweepCase("playground", code, offset, detect_language(language or "python", None))


class PlaygroundRunner:
    """Owns the engine (one model) for the page's requests."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or Engine()

    def start_loading(self) -> None:
        self.engine.load(make_backend_factory(self.settings))

    def status(self) -> dict[str, Any]:
        info = self.engine.info
        return {"state": self.engine.state.value, "error": self.engine.error,
                "model": info.name if info else None,
                "profiles": {n: vars(p) for n, p in BUILTIN_PROFILES.items()}}

    async def suggest(self, code: str, offset: int, language: str | None,
                      profiles: Sequence[Mapping[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
        """One suggestion per profile (same seed for each), in the order given."""
        if not 1 <= len(profiles) <= MAX_PROFILES:
            raise PlaygroundError(f"give 1 to {MAX_PROFILES} profiles")
        snap = make_case(code, offset, language).snapshot()
        answers = []
        for fields in profiles:
            profile, problems = profile_from_fields(fields)
            config = CompletionConfig(profile=profile, max_new_tokens=profile.max_new_tokens
                                      or self.settings.max_new_tokens, max_lines=self.settings.max_lines, seed=seed,
                                      retries=self.settings.retries)
            s = await self._on_engine(lambda b, t, c=config: pipeline.run(snap, b, t, c, "playground"))
            answers.append({"name": profile.name, "profile": s.profile or profile.name, "describe": profile.describe(),
                            "text": s.text, "reason": s.reason, "mode": s.mode, "problems": problems,
                            "ms": round(s.timings.get("total_ms", 0.0))})
        return answers

    async def sweep(self, code: str, offset: int, language: str | None, temperatures: Sequence[float],
                    samples: int) -> dict[str, Any]:
        """A small sweep: table rows, the markdown table, and the plot as a data URL."""
        if not 1 <= samples <= MAX_SWEEP_SAMPLES:
            raise PlaygroundError(f"samples must be 1..{MAX_SWEEP_SAMPLES}")
        temps = [float(t) for t in temperatures]
        if not 1 <= len(temps) <= MAX_SWEEP_TEMPERATURES or any(not 0 < t <= 5 for t in temps):
            raise PlaygroundError(f"give 1 to {MAX_SWEEP_TEMPERATURES} temperatures in (0, 5]")
        case = make_case(code, offset, language)
        columns = temperature_settings(BUILTIN_PROFILES["coding"], temps)
        results = await self._on_engine(lambda b, t: sweep(
            case, b, columns, samples=samples, max_new_tokens=self.settings.max_new_tokens,
            max_lines=self.settings.max_lines, show_progress=False))
        return {"rows": [r.measures.as_dict() for r in results], "table": markdown_table(results),
                "answers": [r.answers for r in results], "plot": _plot_data_url(results)}

    async def _on_engine(self, work: Any) -> Any:
        if not self.engine.ready:
            raise PlaygroundError(f"the model is not ready ({self.engine.state.value})")
        return await asyncio.wrap_future(self.engine.submit(work))


def _plot_data_url(results: Sequence[Any]) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep.png"
        try:
            write_plot(path, results, "playground sweep")
        except PlotUnavailable:
            return None
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
