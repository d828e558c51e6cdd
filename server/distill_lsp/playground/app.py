"""The playground's HTTP routes (starlette): the page, status, suggest, sweep."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from .runner import PlaygroundError, PlaygroundRunner

logger = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("page.html")


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise PlaygroundError("the request body must be JSON") from exc
    if not isinstance(body, dict):
        raise PlaygroundError("the request body must be a JSON object")
    return body


async def _answer(request: Request, answer: Callable[[dict[str, Any]], Awaitable[Any]]) -> JSONResponse:
    """`answer(body)` as JSON; a bad request or a problem the runner names as a 400."""
    try:
        return JSONResponse(await answer(await _body(request)))
    except (PlaygroundError, TypeError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


def create_app(runner: PlaygroundRunner) -> Starlette:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(runner.status())

    async def suggest(request: Request) -> JSONResponse:
        async def answer(b: dict[str, Any]) -> Any:
            return {"suggestions": await runner.suggest(str(b.get("code", "")), int(b.get("offset", 0)),
                                                        b.get("language"), list(b.get("profiles") or []),
                                                        int(b.get("seed", 0)))}
        return await _answer(request, answer)

    async def sweep(request: Request) -> JSONResponse:
        async def answer(b: dict[str, Any]) -> Any:
            return await runner.sweep(str(b.get("code", "")), int(b.get("offset", 0)), b.get("language"),
                                      list(b.get("temperatures") or []), int(b.get("samples", 4)))
        return await _answer(request, answer)

    return Starlette(routes=[
        Route("/", page), Route("/api/status", status),
        Route("/api/suggest", suggest, methods=["POST"]), Route("/api/sweep", sweep, methods=["POST"]),
    ])
