"""Workspace context end to end: the real server over stdio (pytest-lsp), a real workspace
in a temporary folder, and a scripted OpenAI-compatible endpoint that records every prompt
(tests/fixtures/fake_openai.py), so what the model was shown can be read back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.fixtures.fake_openai import FakeOpenAI
from tests.helpers import SERVER_CMD, inline_params, open_doc, plain, wait_ready

FAKE = FakeOpenAI()
OPTIONS = {"backend": "openai", "endpoint": FAKE.url, "maxNewTokens": 8, "profile": "greedy"}
SECRET = "def leaked_secret_function(token): ..."
APP = "from geo.shapes import circle_area\nfrom geo import leak\n\n\ndef total(radii):\n    return sum(circle_area(r) for r in radii) + leak.leaked_secret_function("
REGISTRATIONS: list[types.RegistrationParams] = []


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("session")
    ws, outside = root / "ws", root / "outside"
    (ws / "geo").mkdir(parents=True)
    outside.mkdir()
    (outside / "leak.py").write_text(SECRET + "\n")
    (ws / "geo" / "__init__.py").write_text("")
    (ws / "geo" / "shapes.py").write_text("import math\n\n\ndef circle_area(radius: float) -> float:\n"
                                          "    return math.pi * radius ** 2\n")
    (ws / "geo" / "leak.py").symlink_to(outside / "leak.py")
    (ws / "app.py").write_text(APP)
    (root / "other").mkdir()
    (root / "other" / "extra.py").write_text("def from_a_second_folder(): ...\n")
    return ws


@pytest.fixture(scope="module", autouse=True)
def fake() -> Any:
    yield FAKE
    FAKE.stop()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def client(lsp_client: LanguageClient, workspace: Path):
    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        REGISTRATIONS.append(params)

    caps = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            workspace_folders=True,
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True)),
        text_document=types.TextDocumentClientCapabilities(inline_completion=types.InlineCompletionClientCapabilities()))
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=caps, initialization_options=OPTIONS,
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")]))
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def status(client: LanguageClient) -> dict[str, Any]:
    for _ in range(200):
        found = plain(await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="distill.status")))["workspace"]
        if found["state"] in ("ready", "off"):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the index never finished")


async def prompt_at(client: LanguageClient, uri: str, text: str) -> str:
    before = len(FAKE.requests)
    lines = text.split("\n")
    await client.text_document_inline_completion_async(
        inline_params(uri, types.Position(len(lines) - 1, len(lines[-1]))))
    assert len(FAKE.requests) == before + 1
    return FAKE.requests[-1]["prompt"]


async def test_index_reported_and_watchers_registered(client: LanguageClient, workspace: Path) -> None:
    found = await status(client)
    assert found["state"] == "ready" and found["folders"] == [str(workspace.resolve())]
    assert found["files"] == 3  # app.py, geo/__init__.py, geo/shapes.py: not the symlink out
    assert found["memoryMiB"] >= 0 and "indexSeconds" in found
    registered = [r for p in REGISTRATIONS for r in p.registrations]
    assert [r.method for r in registered] == [types.WORKSPACE_DID_CHANGE_WATCHED_FILES]


async def test_imported_definition_in_the_prompt_never_a_file_outside(client: LanguageClient, workspace: Path) -> None:
    uri = (workspace / "app.py").as_uri()
    open_doc(client, uri, APP)
    prompt = await prompt_at(client, uri, APP)
    assert "# geo/shapes.py\ndef circle_area(radius: float) -> float:" in prompt
    assert "leaked_secret_function(token)" not in prompt  # the symlinked file points outside


async def test_changed_file_on_disk_is_read_again(client: LanguageClient, workspace: Path) -> None:
    shapes = workspace / "geo" / "shapes.py"
    shapes.write_text("def circle_area(diameter: int, *, exact: bool = False) -> float:\n    return 0.0\n")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=shapes.as_uri(), type=types.FileChangeType.Changed)]))
    uri = (workspace / "app.py").as_uri()
    for _ in range(40):
        prompt = await prompt_at(client, uri, APP + " ")
        if "exact: bool" in prompt:
            break
        await asyncio.sleep(0.05)
    assert "def circle_area(diameter: int, *, exact: bool = False) -> float:" in prompt


async def test_folders_follow_the_client(client: LanguageClient, workspace: Path) -> None:
    other = workspace.parent / "other"
    client.workspace_did_change_workspace_folders(types.DidChangeWorkspaceFoldersParams(
        event=types.WorkspaceFoldersChangeEvent(added=[types.WorkspaceFolder(uri=other.as_uri(), name="other")],
                                                removed=[])))
    for _ in range(100):
        found = await status(client)
        if len(found["folders"]) == 2 and found["files"] == 4:
            break
        await asyncio.sleep(0.05)
    assert found["folders"] == [str(workspace.resolve()), str(other.resolve())] and found["files"] == 4


async def test_workspace_context_can_be_turned_off(client: LanguageClient, workspace: Path) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"distill": {"workspaceContext": False}}))
    uri = (workspace / "app.py").as_uri()
    for _ in range(40):
        prompt = await prompt_at(client, uri, APP + "  ")
        if "circle_area(diameter" not in prompt:
            break
        await asyncio.sleep(0.05)
    assert "# geo/shapes.py" not in prompt
    assert (await status(client))["state"] == "off"
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"distill": {"workspaceContext": True}}))
