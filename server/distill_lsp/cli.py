"""Command line: `serve`, and headless `complete` / `doctor` built on public functions."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from . import __version__


MODEL_OPTIONS = ("model", "profile", "device", "dtype", "maxNewTokens", "threads", "cacheDir")
"""Settings every command takes (`--model`, ...): flag, type and help come from the option table."""
ACTION_OPTIONS = ("reasoningTokens", "actionMaxNewTokens")
"""Settings `explain` and `fix` take as well."""


def _add_options(p: argparse.ArgumentParser, keys: tuple[str, ...] = MODEL_OPTIONS) -> None:
    from .settings import options_named

    for opt in options_named(keys):
        p.add_argument(opt.flag, dest=opt.attr, type=opt.value_type, help=opt.doc.replace("%", "%%"))


def _cli_layer(args: argparse.Namespace, keys: tuple[str, ...] = MODEL_OPTIONS) -> dict[str, Any]:
    """The settings given on the command line, under their option keys."""
    from .settings import options_named

    return {opt.key: getattr(args, opt.attr) for opt in options_named(keys)
            if getattr(args, opt.attr, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill-lsp", description="AI coding assistant language server.")
    parser.add_argument("--version", action="version", version=f"distill-lsp {__version__}")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="TCP address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    serve.add_argument("--token-file", help="a file holding the access token clients must send as "
                       "initializationOptions.token (required with a --host other than loopback)")
    serve.add_argument("--config", help="a JSON file of settings (the README's keys), between the environment "
                       "and the command line; with --tcp the only place, besides those two, for server-owned ones")
    serve.add_argument("--log-file", help="write logs here instead of stderr")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    _add_options(serve)

    complete = sub.add_parser("complete", help="headless: complete FILE at LINE:COL (1-based) and print it")
    complete.add_argument("location", help="FILE:LINE:COL, 1-based as compilers print (a column past the end means the end)")
    complete.add_argument("--language", help="languageId to send (default: from the extension)")
    complete.add_argument("--verbose", "-v", action="store_true", help="also print the server's log")
    complete.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the model and the answer")
    _add_options(complete)

    _add_action_parsers(sub)
    sweep = sub.add_parser("sweep", help="sample a point N times per temperature (or profile) and measure the answers")
    from .sweep.command import add_arguments as _sweep_arguments

    _sweep_arguments(sweep)
    _add_options(sweep)

    playground = sub.add_parser("playground", help="a local web page to compare profiles and run a small sweep")
    from .playground.command import add_arguments as _playground_arguments

    _playground_arguments(playground)
    _add_options(playground)

    doctor = sub.add_parser("doctor", help="print what a bug report needs: versions, devices, model resolution")
    _add_options(doctor)
    return parser


def _add_action_parsers(sub: Any) -> None:
    explain = sub.add_parser("explain", help="headless: explain lines START-END (1-based) of FILE, print markdown")
    explain.add_argument("location", help="FILE:START-END, 1-based lines")
    fix = sub.add_parser("fix", help="headless: fix the code around LINE (1-based) of FILE, print a unified diff")
    fix.add_argument("location", help="FILE:LINE, 1-based")
    fix.add_argument("--diagnostic", action="append", default=[], help="a diagnostic message for that line (repeatable)")
    for p in (explain, fix):
        p.add_argument("--language", help="languageId to send (default: from the extension)")
        _add_options(p, ACTION_OPTIONS)
        p.add_argument("--verbose", "-v", action="store_true", help="print the server's log")
        p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the model and the answer")
        _add_options(p)


def _action_layer(args: argparse.Namespace) -> dict[str, Any]:
    layer = _cli_layer(args) | _cli_layer(args, ACTION_OPTIONS)
    if args.profile:
        layer.update(explainProfile=args.profile, fixProfile=args.profile)
    return layer


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "serve"):
        if args.command is None:
            args = parser.parse_args(["serve", *(argv or sys.argv[1:])])
        return _serve(args)
    if args.command == "complete":
        from .headless import run_complete

        return run_complete(args, _cli_layer(args))
    if args.command in ("explain", "fix"):
        from .headless_actions import run_action_command

        return run_action_command(args, _action_layer(args))
    if args.command == "sweep":
        from .sweep.command import run_sweep

        return run_sweep(args, _cli_layer(args))
    if args.command == "playground":
        from .playground.command import run_playground

        return run_playground(args, _cli_layer(args))
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_doctor(_cli_layer(args))
    parser.error(f"unknown command {args.command}")
    return 2


def _serve(args: argparse.Namespace) -> int:
    from .access import access_token
    from .engine.resolve import environment_offline
    from .logs import setup_logging
    from .server import create_server
    from .settings import env_layer

    from .engine.roles import EnginePool
    from .engine.worker import Engine
    from .transport import TransportError, start_stdio, start_tcp

    environment_offline()
    setup_logging(args.log_level, args.log_file)
    try:
        layers = (env_layer(os.environ), config_layer(args.config), _cli_layer(args))
        token = access_token(args.host, args.token_file) if args.tcp else None
    except ValueError as exc:
        print(f"distill-lsp: {exc}", file=sys.stderr)
        return 2
    engine = EnginePool(Engine())  # one engine per model, for every session (TCP serves many)
    if not args.tcp:
        return _end_process(engine, start_stdio(create_server(layers, engine), exit_process=False))
    try:
        start_tcp(lambda: create_server(layers, engine, token, shared=True), args.host, args.port)
    except TransportError as exc:
        print(f"distill-lsp: {exc}", file=sys.stderr)
        return _end_process(engine, 1)
    return _end_process(engine, 0)


def config_layer(path: str | None) -> dict[str, Any]:
    """The settings object in the JSON file `path` (none: empty); ValueError when unreadable."""
    if path is None:
        return {}
    import json

    try:
        with open(path, encoding="utf-8") as file:
            layer = json.load(file)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read --config {path}: {exc}") from exc
    if not isinstance(layer, dict):
        raise ValueError(f"--config {path} must hold a JSON object of settings")
    return layer


def _end_process(engine: Any, code: int, grace_s: float = 3.0) -> int:
    """Stop the engine (a running generation ends at its next decode step), then leave at
    once: interpreter finalization while a daemon thread is inside torch aborts the process."""
    import logging

    engine.close()
    engine.join(grace_s)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
