"""Security promises that need the real server: code content reaches the log only at
debug level."""

from __future__ import annotations

import sys

import pytest

from tests.fixtures.lsp_wire import StdioSession, notification, request
from tests.fixtures.real_server import did_open, inline, shutdown

MARKER = "zq_secret_marker_42"
TEXT = f"{MARKER} = 1\n\ndef add(a, b):\n    return "


@pytest.mark.parametrize("level,logged", [("info", False), ("debug", True)])
def test_code_content_is_logged_only_at_debug(level: str, logged: bool) -> None:
    session = StdioSession(command=[sys.executable, "-m", "distill_lsp", "serve", "--log-level", level])
    try:
        session.send(request("init", "initialize", {"processId": None, "rootUri": None, "capabilities": {},
                                                    "initializationOptions": {"profile": "greedy", "maxNewTokens": 4}}))
        session.recv_response("init", 60)
        session.send(notification("initialized", {}))
        while session.recv(240).get("method") != "distill/status":
            pass
        did_open(session, "file:///sec/a.py", TEXT)
        session.send(inline(1, "file:///sec/a.py", 3, 11))
        answer = session.recv_response(1, 120)
        assert shutdown(session, 30) == 0
    finally:
        session.kill()
    log = b"".join(session.stderr_lines).decode(errors="replace")
    assert ("raw generation" in log) is logged  # the generated code, at debug only
    if not logged:
        assert MARKER not in log
        for item in answer["result"]["items"]:
            assert repr(item["insertText"]) not in log
