"""TCP access control: beyond loopback a token file is required; `initialize` without the
token (or with a wrong one) gets a clear error and the connection is closed."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from distill_lsp.access import ACCESS_DENIED, access_token, pop_access_token, token_gate
from distill_lsp.transport import open_tcp_server
from tests.fixtures.lsp_wire import INIT_PARAMS
from tests.fixtures.transport_server import build_server
from tests.unit.test_protocol_tcp import TcpClient

TOKEN = "a-long-team-token-0123456789"


def guarded_server():
    server = build_server()
    server.protocol.admit = token_gate(TOKEN)
    return server


def test_binding_beyond_loopback_needs_a_token_file(tmp_path: Path) -> None:
    assert access_token("127.0.0.1", None) is None
    with pytest.raises(ValueError, match="--token-file"):
        access_token("0.0.0.0", None)
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(ValueError, match="too short"):
        access_token("0.0.0.0", str(short))
    good = tmp_path / "token"
    good.write_text(TOKEN + "\n")
    assert access_token("0.0.0.0", str(good)) == TOKEN
    proc = subprocess.run([sys.executable, "-m", "distill_lsp", "serve", "--tcp", "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--token-file" in proc.stderr, proc.stderr


def test_the_token_is_taken_out_of_the_options() -> None:
    data = {"params": {"initializationOptions": {"token": "t", "profile": "greedy"}}}
    assert pop_access_token(data) == "t" and data["params"]["initializationOptions"] == {"profile": "greedy"}
    nested = {"params": {"initializationOptions": {"distill": {"token": "n", "model": "auto"}}}}
    assert pop_access_token(nested) == "n" and nested["params"]["initializationOptions"] == {"distill": {"model": "auto"}}
    assert pop_access_token({"params": {}}) is None


@pytest.mark.parametrize("options, why", [({}, "no access token"), ({"token": "wrong"}, "a wrong access token")])
async def test_initialize_without_the_right_token_is_refused_and_closed(options, why) -> None:
    listener = await open_tcp_server(guarded_server, "127.0.0.1", 0)
    try:
        client = await TcpClient.connect(listener.port)
        answer = await client.call(1, "initialize", {**INIT_PARAMS, "initializationOptions": options})
        assert answer["error"]["code"] == ACCESS_DENIED
        assert why in answer["error"]["message"] and "initializationOptions.token" in answer["error"]["message"]
        assert await asyncio.wait_for(client.reader.read(), 5) == b""  # the server closed the connection
    finally:
        await listener.close()


async def test_initialize_with_the_token_is_served(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    listener = await open_tcp_server(guarded_server, "127.0.0.1", 0)
    try:
        client = await TcpClient.connect(listener.port)
        answer = await client.call(1, "initialize", {**INIT_PARAMS, "initializationOptions": {"token": TOKEN}})
        assert "result" in answer
        assert (await client.call(2, "test/sleep", {"seconds": 0}))["result"] == {"slept": 0}
        assert TOKEN not in caplog.text
    finally:
        await listener.close()
