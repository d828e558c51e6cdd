"""Playground pieces without a browser: the port check, profiles from the page, bad requests."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from distill_lsp.playground.command import DEFAULT_PORT, PortInUse, check_port
from distill_lsp.playground.runner import PlaygroundError, make_case, profile_from_fields


def test_default_port() -> None:
    assert DEFAULT_PORT == 7860


def test_port_in_use_message_names_port_and_option() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortInUse, match=rf"port {port} on 127.0.0.1 is in use.*--port N"):
            check_port("127.0.0.1", port)
        done = subprocess.run([sys.executable, "-m", "distill_lsp", "playground", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"port {port}" in done.stderr and "--port" in done.stderr


def test_free_port_passes() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    check_port("127.0.0.1", port)


@pytest.mark.parametrize("fields, name, temperature, problems", [
    ({"name": "precise"}, "precise", 0.45, 0),
    ({"name": "precise (edited)", "base": "precise", "temperature": 0.3}, "precise (edited)", 0.3, 0),
    ({"name": "x", "base": "creative", "temperature": 9}, "x", 0.85, 1),
    ({"name": "x", "base": "coding", "topP": "", "topK": None}, "x", 0.65, 0),
    ({"name": "auto"}, "auto", 0.65, 0),
])
def test_profile_from_fields(fields, name, temperature, problems) -> None:
    profile, found = profile_from_fields(fields)
    assert (profile.name, profile.temperature, len(found)) == (name, temperature, problems)


def test_make_case_checks_the_cursor() -> None:
    assert make_case("x = 1\n", 6, "python").lang is not None
    with pytest.raises(PlaygroundError, match="outside"):
        make_case("x", 5, "python")
