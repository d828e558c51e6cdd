"""Fixtures for the real-editor tests (helpers live in editor_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from editor_harness import ServerUnderTest, server_under_test, tcp_server, write_sample


@pytest.fixture(scope="session")
def server() -> ServerUnderTest:
    """The server the editors talk to: ``DISTILL_LSP_EDITOR_SERVER_CMD`` or the stand-in."""
    return server_under_test()


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    return write_sample(tmp_path)


@pytest.fixture
def tcp_port(server: ServerUnderTest, tmp_path: Path) -> Iterator[int]:
    """The server under test listening on TCP; yields its port."""
    with tcp_server(server, tmp_path) as port:
        yield port
