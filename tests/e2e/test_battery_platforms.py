"""Battery, platforms: every feature on documents named by percent-encoded URIs (a space,
a Windows drive letter as VS Code sends it, non-ASCII) and holding lone surrogates, CRLF,
\\u2028 and \\f. The real server over stdio, with a scripted OpenAI-compatible endpoint as
its model (tests/fixtures/fake_openai.py), so each request answers in milliseconds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from distill_lsp.headless_actions import apply_workspace_edit, fix_code_action_union
from distill_lsp.context.positions import position_at
from tests.fixtures.fake_openai import FakeOpenAI
from tests.helpers import SERVER_CMD, inline_params, open_doc, plain, wait_ready

ROOT = Path(__file__).resolve().parents[2]
FAKE = FakeOpenAI()
OPTIONS = {"backend": "openai", "endpoint": FAKE.url, "maxNewTokens": 8, "actionMaxNewTokens": 60,
           "reasoningTokens": 0, "profile": "greedy", "explainProfile": "greedy", "documentProfile": "greedy"}
URIS = {
    "space": "file:///home/dev/proj/with%20space.py",
    "drive": "file:///c%3A/Users/dev/proj/win.py",
    "non-ascii": "file:///home/dev/caf%C3%A9/%E6%97%A5%E6%9C%AC.py",
}
TEXTS = {  # each text puts its oddity before the function the actions work on
    "surrogate": "s = '\ud800'  # a lone surrogate, legal in JSON\n",
    "crlf": "x = 1\r\ny = 2\r\n",
    "u2028": "s = 'a\u2028b'\n",
    "formfeed": "x = 1\n\x0c\n",
}
FUNCTION = "def add(a, b):\n    return a + b\n"
DOCUMENTED = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a + b\n```\n'


def caps() -> types.ClientCapabilities:
    """A client that resolves edits (with versioned documentChanges) and shows progress."""
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True, workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)),
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"])),
            inline_completion=types.InlineCompletionClientCapabilities(),
            completion=types.CompletionClientCapabilities()),
    )


@pytest.fixture(scope="module", autouse=True)
def fake() -> Iterator[FakeOpenAI]:
    yield FAKE
    FAKE.stop()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def client(lsp_client: LanguageClient):
    fix_code_action_union(lsp_client.protocol._converter)
    await lsp_client.initialize_session(types.InitializeParams(capabilities=caps(), initialization_options=OPTIONS))
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


CASES = [(URIS[name], "") for name in URIS] + [(f"file:///battery/{name}.py", TEXTS[name]) for name in TEXTS]
IDS = [f"uri-{name}" for name in URIS] + [f"text-{name}" for name in TEXTS]
_opened = iter(range(1_000_000))


def fresh(uri: str) -> str:
    """`uri` made unique per test (the same file name, one more directory level)."""
    head, _, name = uri.rpartition("/")
    return f"{head}/t{next(_opened)}/{name}"


def end_of(text: str) -> types.Position:
    """The LSP position of the end of `text` (lines end at \\n, \\r\\n and \\r only)."""
    line, character = position_at(text, len(text))
    return types.Position(line, character)


async def list_actions(client: LanguageClient, uri: str, head: str) -> dict[str, types.CodeAction]:
    """The actions offered inside the function that follows `head`."""
    at = types.Position(end_of(head).line, 4)
    rng = types.Range(at, at)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), rng, types.CodeActionContext(diagnostics=[])))
    return {a.title: a for a in actions or []}


@pytest.mark.parametrize(("uri", "head"), CASES, ids=IDS)
async def test_code_actions_listing_resolve_and_commands(client: LanguageClient, uri: str, head: str) -> None:
    uri, text = fresh(uri), head + FUNCTION
    open_doc(client, uri, text)
    actions = await list_actions(client, uri, head)
    assert list(actions) == ["Explain this", "Document this"], actions
    assert actions["Explain this"].data["uri"] == uri, "actions name the document as the client does"

    FAKE.pieces = [DOCUMENTED]
    resolved = await asyncio.wait_for(client.code_action_resolve_async(actions["Document this"]), 60)
    change = resolved.edit.document_changes[0]
    assert change.text_document.uri == uri and change.text_document.version == 1
    documented = apply_workspace_edit(text, uri, resolved.edit)
    assert documented.startswith(head) and '    """Add two numbers."""\n    return a + b' in documented

    FAKE.pieces = ["It adds ", "a and b."]
    explain = actions["Explain this"].command
    result = plain(await asyncio.wait_for(client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=explain.command, arguments=explain.arguments)), 60))
    assert "It adds a and b." in result["markdown"]
    assert Path(result["path"]).read_text(encoding="utf-8") == result["markdown"]


@pytest.mark.parametrize(("uri", "head"), CASES, ids=IDS)
async def test_inline_and_classic_completion(client: LanguageClient, uri: str, head: str) -> None:
    uri, text = fresh(uri), head + "def add(a, b):\n    return "
    open_doc(client, uri, text)
    here = end_of(text)
    FAKE.pieces = ["a + b", "\n"]
    inline = await client.text_document_inline_completion_async(inline_params(uri, here))
    assert [(i.insert_text, i.range.start) for i in inline.items] == [("a + b", here)]
    classic = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=here,
        context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked)))
    assert [(i.text_edit.new_text, i.text_edit.range.start) for i in classic.items] == [("a + b", here)]


def _headless(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server"), "DISTILL_LSP_BACKEND": "openai",
           "DISTILL_LSP_ENDPOINT": FAKE.url}
    return subprocess.run([sys.executable, "-m", "distill_lsp", *args, "--profile", "greedy"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    """A file whose path needs percent-encoding, holding CRLF, \\u2028 and \\f (a UTF-8
    file cannot hold a lone surrogate: that case is covered over LSP above)."""
    folder = tmp_path / "with space é"
    folder.mkdir()
    head = "x = 1\r\ns = 'a\u2028b'\r\n\x0c\r\n"
    (folder / "odd.py").write_bytes((head + "def add(a, b):\r\n    return a + b\r\n").encode("utf-8"))
    (folder / "unfinished.py").write_bytes((head + "def add(a, b):\r\n    return ").encode("utf-8"))
    return folder


def test_headless_explain_fix_and_complete(odd_folder: Path) -> None:
    path = odd_folder / "odd.py"
    FAKE.pieces = ["It adds ", "a and b."]
    budget = ("--reasoning-tokens", "0", "--action-max-new-tokens", "60")
    explained = _headless("explain", f"{path}:4-5", *budget)
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("## Explanation: odd.py lines 4-5") and "It adds a and b." in explained.stdout
    FAKE.pieces = ['```python\ndef add(a, b):\n    return a - b\n```\n']
    fixed = _headless("fix", f"{path}:5", "--diagnostic", "wrong operator", *budget)
    assert fixed.returncode == 0, fixed.stderr
    assert "-    return a + b" in fixed.stdout and "+    return a - b" in fixed.stdout
    FAKE.pieces = ["a * b", "\n"]
    completed = _headless("complete", f"{odd_folder / 'unfinished.py'}:5:12")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "a * b"
