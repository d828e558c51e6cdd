"""The `distill-lsp sweep` command: arguments -> case -> sweep -> table / JSON / plot."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from ..engine.types import EngineError
from ..settings import Settings, env_layer, resolve
from .cases import SweepCase, SweepError, from_location, from_prompt
from .report import PlotUnavailable, markdown_table, to_json, write_json, write_plot
from .sampling import DEFAULT_TEMPERATURES, Setting, profile_settings, sweep, temperature_settings

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", nargs="?", help="FILE:LINE:COL (1-based); or use --prompt")
    p.add_argument("--prompt", help="free text to continue instead of a file position")
    p.add_argument("--language", help="languageId (default: from the file's extension; none for --prompt)")
    p.add_argument("--samples", "-n", type=int, default=8, help="samples per setting (default 8)")
    p.add_argument("--temperatures", help="comma-separated (default " + ",".join(map(str, DEFAULT_TEMPERATURES)) + ")")
    p.add_argument("--profiles", help="compare these profiles instead of temperatures, e.g. auto,greedy,precise,coding,creative")
    p.add_argument("--seed", type=int, default=0, help="seed of the first sample (sample i uses seed+i)")
    p.add_argument("--max-lines", type=int, default=12, help="most lines in one answer")
    p.add_argument("--check", type=Path, help="HumanEval-style file with `def check(candidate)`: report the pass rate")
    p.add_argument("--entry-point", help="the function given to check (default: entry_point in the check file, "
                                         "else the last top-level def before the cursor)")
    p.add_argument("--json", type=Path, help="write the results (with every answer) here")
    p.add_argument("--plot", type=Path, help="write a PNG plot here (needs the `sweep` extra)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def parse_temperatures(text: str | None) -> list[float]:
    if not text:
        return list(DEFAULT_TEMPERATURES)
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise SweepError(f"--temperatures must be numbers separated by commas, got {text!r}") from exc
    if not values or any(not 0 < t <= 5 for t in values):
        raise SweepError(f"--temperatures must be in (0, 5], got {text!r}")
    return values


def build_case(args: argparse.Namespace) -> SweepCase:
    if bool(args.location) == bool(args.prompt):
        raise SweepError("give either FILE:LINE:COL or --prompt TEXT")
    if args.prompt:
        if args.check:
            raise SweepError("--check needs a file position (the answer is inserted into the file)")
        return from_prompt(args.prompt, args.language)
    return from_location(args.location, args.language, args.check, args.entry_point)


def build_settings(args: argparse.Namespace, settings: Settings) -> list[Setting]:
    if args.profiles:
        names = [n.strip() for n in args.profiles.split(",") if n.strip()]
        unknown = [n for n in names if n not in settings.profile_names()]
        if unknown:
            raise SweepError(f"unknown profiles {unknown}; known: {', '.join(settings.profile_names())}")
        return profile_settings(settings, names)
    base = settings.sampling_profile()
    base = settings.sampling_profile("coding") if base.name == "auto" or not base.do_sample else base
    return temperature_settings(base, parse_temperatures(args.temperatures))


def run_sweep(args: argparse.Namespace, cli_layer: dict[str, Any]) -> int:
    from ..engine.resolve import environment_offline

    environment_offline()
    try:
        settings, problems = resolve(env_layer(), cli_layer)
        for problem in problems:
            print(f"distill-lsp: ignored setting: {problem}", file=sys.stderr)
        if args.samples < 1:
            raise SweepError("--samples must be at least 1")
        case = build_case(args)
        columns = build_settings(args, settings)
        from .sampling import load_backend

        backend = load_backend(settings)
        results = sweep(case, backend, columns, samples=args.samples, seed=args.seed,
                        max_new_tokens=settings.max_new_tokens, max_lines=args.max_lines,
                        show_progress=not args.no_progress)
        print(markdown_table(results))
        meta = {"model": backend.info.name, "samples": args.samples, "seed": args.seed,
                "max_new_tokens": settings.max_new_tokens}
        if args.json:
            write_json(args.json, to_json(case.name, results, meta))
        if args.plot:
            write_plot(args.plot, results, f"{case.name}: {backend.info.name}, {args.samples} samples per setting")
    except (SweepError, EngineError, PlotUnavailable) as exc:
        print(f"distill-lsp: {exc}", file=sys.stderr)
        return 1
    return 0
