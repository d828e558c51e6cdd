"""Who may use a server shared over TCP: the access token of `--token-file`, sent by the
client as ``initializationOptions.token``.

`access_token` reads the token when a TCP server starts; `token_gate` is installed on every
session the server makes (`server.create_server`): it takes the token out of `initialize`'s
options (it is not a setting) and refuses a session whose token is missing or wrong.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types

logger = logging.getLogger(__name__)

ACCESS_DENIED = -32001
"""JSON-RPC error code of an `initialize` refused for its access token (server error range)."""
LOOPBACK = ("127.0.0.1", "localhost", "::1")

Gate = Callable[[dict[str, Any]], "types.ResponseError | None"]
"""Looks at an `initialize` message (and may edit it): None admits the client, an error refuses it."""


def access_token(host: str, token_file: str | None) -> str | None:
    """The token TCP clients must send; ValueError when binding beyond loopback without one."""
    if token_file is None:
        if host not in LOOPBACK:
            raise ValueError(f"--host {host} lets other machines connect: give --token-file FILE, a file holding "
                             "the access token that clients send as initializationOptions.token")
        return None
    try:
        token = open(token_file, encoding="utf-8").read().strip()
    except OSError as exc:
        raise ValueError(f"cannot read --token-file {token_file}: {exc.strerror or exc}") from exc
    if len(token) < 16:
        raise ValueError(f"the token in {token_file} is too short (at least 16 characters; e.g. "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return token


def pop_access_token(data: dict[str, Any]) -> Any:
    """Remove and return initializationOptions.token (or .distill.token) from an `initialize` message."""
    params = data.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    if not isinstance(options, dict):
        return None
    token = options.pop("token", None)
    section = options.get("distill")
    if isinstance(section, dict) and "token" in section:
        nested = section.pop("token")
        token = nested if token is None else token
    return token


def token_gate(expected: str | None) -> Gate:
    """A gate admitting clients that send `expected` (everyone when it is None or empty)."""

    def admit(data: dict[str, Any]) -> types.ResponseError | None:
        given = pop_access_token(data)
        if not expected:
            return None
        if isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode()):
            return None
        why = "no access token" if given is None else "a wrong access token"
        logger.warning("Refusing a client with %s; closing the connection", why)
        return types.ResponseError(ACCESS_DENIED, f"distill-lsp: access denied: {why}. This server requires the "
                                   "token from its --token-file, sent as initializationOptions.token")

    return admit
