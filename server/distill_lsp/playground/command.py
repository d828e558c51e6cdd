"""`distill-lsp playground`: check the port, load the model, serve the page on loopback."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from typing import Any

DEFAULT_PORT = 7860


class PortInUse(Exception):
    pass


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")


def check_port(host: str, port: int) -> None:
    """Raise PortInUse with a message naming the port and how to choose another."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(f"port {port} on {host} is in use (or not allowed); "
                                f"choose another with `distill-lsp playground --port N`") from exc
            raise


def run_playground(args: argparse.Namespace, cli_layer: dict[str, Any]) -> int:
    try:
        import uvicorn

        from .app import create_app
    except ImportError:
        print("distill-lsp: the playground needs the `web` extra: pip install 'distill-lsp[web]'", file=sys.stderr)
        return 1
    from ..engine.resolve import environment_offline
    from ..logs import setup_logging
    from ..settings import env_layer, resolve
    from .runner import PlaygroundRunner

    try:
        check_port(args.host, args.port)
    except PortInUse as exc:
        print(f"distill-lsp: {exc}", file=sys.stderr)
        return 1
    environment_offline()
    setup_logging("info", None)
    settings, problems = resolve(env_layer(), cli_layer)
    for problem in problems:
        print(f"distill-lsp: ignored setting: {problem}", file=sys.stderr)
    runner = PlaygroundRunner(settings)
    runner.start_loading()
    print(f"distill-lsp playground on http://{args.host}:{args.port}/ (model loading in the background)",
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(runner), host=args.host, port=args.port, log_level="warning")
    return 0
