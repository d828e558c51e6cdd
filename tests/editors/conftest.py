"""Fixtures for the real-editor tests (helpers live in editor_harness.py)."""

from __future__ import annotations

import pytest

from editor_harness import ServerUnderTest, server_under_test, standin_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "code_actions: needs the server's Explain/Fix/Document code actions")


@pytest.fixture(scope="session")
def server() -> ServerUnderTest:
    """The server the editors talk to: this checkout's real server, or ``DISTILL_LSP_EDITOR_SERVER_CMD``."""
    return server_under_test()


@pytest.fixture(scope="session")
def standin() -> ServerUnderTest:
    """The stand-in server (test_standin.py only)."""
    return standin_server()
