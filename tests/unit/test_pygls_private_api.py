"""The pygls internals that protocol.py (with its mix-ins) and transport.py override or read are still there,
with the signatures they were written against. pyproject.toml pins pygls to the minor
versions tested; when a new pygls changes one of these, this test names the member."""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

import pytest
from pygls import feature_manager, protocol as pygls_protocol
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol import json_rpc

from distill_lsp.protocol import DistillProtocol
from tests.fixtures.lsp_wire import ROOT

TESTED_MINORS = ("2.1",)
"""pygls versions these overrides were tested with (keep in step with pyproject.toml)."""


def shape(member: Any) -> list[tuple[str, Any]]:
    """Parameter names and kinds (positional, keyword-only, *args...) of a callable."""
    return [(p.name, p.kind) for p in inspect.signature(member).parameters.values()]


OURS = DistillProtocol.__mro__[:DistillProtocol.__mro__.index(LanguageServerProtocol)]
"""DistillProtocol and the classes mixed into it (answers.py, handler_runs.py, features/documents.py)."""
OVERRIDDEN = sorted({name for klass in OURS for name, member in vars(klass).items()
                     if callable(member) and name != "__init__" and hasattr(LanguageServerProtocol, name)})


def test_the_pygls_version_was_tested() -> None:
    version = importlib.metadata.version("pygls")
    assert any(version.startswith(f"{m}.") for m in TESTED_MINORS), (
        f"pygls {version} is not one of the tested minors {TESTED_MINORS}: run this file, the protocol "
        "and transport tests, then update TESTED_MINORS and the pin in pyproject.toml")
    assert f'"pygls>={TESTED_MINORS[0]},<' in (ROOT / "pyproject.toml").read_text(), "pyproject.toml's pin moved"


def test_the_overrides_are_found() -> None:
    # Every override DistillProtocol relies on; a name pygls dropped would vanish from OVERRIDDEN.
    expected = {"structure_message", "handle_message", "get_message_type", "get_result_type", "_send_response",
                "_send_handler_result", "_handle_cancel_notification", "_execute_handler", "_run_generator",
                "lsp_initialize", "lsp_text_document__did_open", "lsp_text_document__did_change",
                "lsp_text_document__did_close", "lsp_shutdown", "lsp_exit", "_send_data"}
    missing = expected - set(OVERRIDDEN)
    assert not missing, f"pygls' LanguageServerProtocol no longer has {sorted(missing)}: DistillProtocol's " \
                        "overrides of them are never called"


@pytest.mark.parametrize("name", OVERRIDDEN)
def test_overridden_member_keeps_its_signature(name: str) -> None:
    ours, theirs = getattr(DistillProtocol, name), getattr(LanguageServerProtocol, name)
    assert shape(ours) == shape(theirs), (
        f"pygls' LanguageServerProtocol.{name} is now {inspect.signature(theirs)}; "
        f"DistillProtocol.{name} overrides it as {inspect.signature(ours)}")


def test_lsp_method_overrides_replace_the_builtins() -> None:
    server = LanguageServer("guard", "0", protocol_cls=DistillProtocol)
    for name in ("lsp_initialize", "lsp_text_document__did_open", "lsp_text_document__did_change",
                 "lsp_text_document__did_close", "lsp_shutdown", "lsp_exit"):
        method = getattr(DistillProtocol, name).method_name
        builtin = server.protocol.fm.builtin_features.get(method)
        assert builtin is not None and builtin.__func__ is getattr(DistillProtocol, name), (
            f"pygls no longer registers DistillProtocol.{name} for {method!r} (lsp_method / "
            "_register_builtin_features changed)")


READ_ATTRIBUTES = ("_request_futures", "_server", "_converter", "fm", "_shutdown", "_include_headers", "writer",
                   "_serialize_message", "set_writer", "notify")
"""Attributes of a pygls protocol that protocol.py / transport.py read or set."""


@pytest.mark.parametrize("name", READ_ATTRIBUTES)
def test_protocol_attribute_read_exists(name: str) -> None:
    server = LanguageServer("guard", "0", protocol_cls=DistillProtocol)
    server.protocol.set_writer(type("W", (), {"write": lambda self, d: None})(), include_headers=True)
    assert hasattr(server.protocol, name), f"pygls protocols no longer have `{name}` (read by distill_lsp)"


@pytest.mark.parametrize(("owner", "name", "parameters"), [
    (LanguageServer, "_report_server_error", ["self", "error", "source"]),
    (json_rpc.JsonRPCProtocol, "set_writer", ["self", "writer", "include_headers"]),
    (feature_manager, "is_thread_function", ["f"]),
    (pygls_protocol, "_dict_to_object", ["d"]),
])
def test_private_function_keeps_its_signature(owner: Any, name: str, parameters: list[str]) -> None:
    member = getattr(owner, name, None)
    assert member is not None, f"pygls no longer has {owner.__name__}.{name} (used by distill_lsp.protocol)"
    got = [p.name for p in inspect.signature(member).parameters.values()]
    assert got == parameters, f"pygls' {owner.__name__}.{name} is now {inspect.signature(member)}"


@pytest.mark.parametrize("name", ["JsonRPCRequestMessage", "lsp_method"])
def test_pygls_protocol_exports(name: str) -> None:
    assert hasattr(pygls_protocol, name), f"pygls.protocol no longer exports {name} (used by distill_lsp.protocol)"
    assert hasattr(json_rpc, "JsonRPCNotification"), "pygls.protocol.json_rpc no longer has JsonRPCNotification"


def test_server_members_read() -> None:
    server = LanguageServer("guard", "0", protocol_cls=DistillProtocol)
    for name in ("thread_pool", "_thread_pool", "work_done_progress", "_text_document_sync_kind"):
        assert hasattr(server, name) or name in dir(type(server)), f"pygls' LanguageServer no longer has `{name}`"
    assert hasattr(server.work_done_progress, "tokens"), "pygls' Progress no longer has `tokens` (action_runner reads it)"
