"""A model for each job, in one real stdio session: completions from a tiny random Qwen2
with fill-in-the-middle tokens built here, Explain / Fix from the bundled SmolLM2. Each
loads once, each has its own engine (ids differ), and each job reaches its own model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from distill_lsp.headless_actions import apply_workspace_edit
from tests.fixtures.models import save_tiny_qwen2, smollm2_tokenizer
from tests.helpers import SERVER_CMD, open_doc, plain, record_applied_edits

FIM_TOKENS = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]
BROKEN = "def mean(values):\n    total = 0\n    for v in values\n        total += v\n    return total / len(values)\n"


def build_tiny_fim_qwen2(directory: Path) -> Path:
    tokenizer = smollm2_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": FIM_TOKENS})
    return save_tiny_qwen2(directory, tokenizer=tokenizer)


async def both_ready(client: LanguageClient) -> dict[str, Any]:
    """`distill.status` once both models are loaded (or one failed)."""
    while True:
        models = (await status(client))["models"]
        states = {models[role]["state"] for role in ("completion", "actions")}
        if states == {"ready"} or "failed" in states:
            return models
        await asyncio.sleep(0.5)


async def status(client: LanguageClient) -> dict[str, Any]:
    return plain(await client.workspace_execute_command_async(types.ExecuteCommandParams(command="distill.status")))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def two(lsp_client: LanguageClient, tmp_path_factory: pytest.TempPathFactory):
    tiny = build_tiny_fim_qwen2(tmp_path_factory.mktemp("fim") / "tiny-fim-qwen2")
    record_applied_edits(lsp_client)
    caps = types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(apply_edit=True),
        text_document=types.TextDocumentClientCapabilities(code_action=types.CodeActionClientCapabilities(
            resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]))))
    options = {"completionModel": str(tiny), "actionModel": "auto", "threads": 2, "maxNewTokens": 8,
               "explainProfile": "greedy", "actionMaxNewTokens": 24, "actionTries": 2}
    await lsp_client.initialize_session(types.InitializeParams(capabilities=caps, initialization_options=options))
    lsp_client.loaded = await asyncio.wait_for(both_ready(lsp_client), 1800)  # (two loads in turn, a busy CPU)
    lsp_client.dir = tmp_path_factory.mktemp("docs")
    yield
    await lsp_client.shutdown_session()


async def test_each_job_has_its_own_model_loaded_once(two: LanguageClient) -> None:
    assert {m["state"] for m in two.loaded.values()} == {"ready"}, two.loaded
    models = (await status(two))["models"]
    completion, actions = models["completion"], models["actions"]
    assert completion["engineId"] != actions["engineId"]
    assert (completion["loads"], actions["loads"]) == (1, 1)
    assert "tiny-fim-qwen2" in completion["model"] and "SmolLM2" in actions["model"]
    assert completion["template"] == "qwen"  # the FIM tokens are used for completions
    assert completion["device"] == actions["device"] == "cpu" and completion["parameterMiB"] > 0


async def test_completions_and_actions_reach_their_own_model(two: LanguageClient) -> None:
    uri = (two.dir / "mean.py").as_uri()
    open_doc(two, uri, BROKEN.replace("in values\n", "in values:\n") + "\n\ndef median(values):\n    ")
    before = (await status(two))["models"]
    answer = await two.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(7, 4),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    assert answer is None or isinstance(answer, (list, types.InlineCompletionList))
    after = (await status(two))["models"]
    assert after["completion"]["prefixEntries"] > before["completion"]["prefixEntries"]
    assert after["actions"]["prefixEntries"] == before["actions"]["prefixEntries"]

    here = types.Position(2, 4)
    listed = await two.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), types.Range(here, here), types.CodeActionContext(diagnostics=[])))
    explain = next(a for a in listed if a.title == "Explain this")
    resolved = await asyncio.wait_for(two.code_action_resolve_async(explain), 300)
    assert resolved is not None and resolved.command is not None and resolved.command.command == "distill.explain"
    # Explain runs when the editor executes the action's command: on the actions model
    await asyncio.wait_for(two.workspace_execute_command_async(types.ExecuteCommandParams(
        command=resolved.command.command, arguments=resolved.command.arguments)), 300)
    final = (await status(two))["models"]
    assert final["actions"]["prefixEntries"] >= 1 and final["actions"]["pending"] == 0
    assert final["completion"]["prefixEntries"] == after["completion"]["prefixEntries"]


async def test_the_issues_fix_gets_its_colon(two: LanguageClient) -> None:
    uri = (two.dir / "broken.py").as_uri()
    open_doc(two, uri, BROKEN)
    here = types.Position(2, 4)
    diagnostic = types.Diagnostic(types.Range(types.Position(2, 19), types.Position(2, 19)), "expected ':'")
    listed = await two.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), types.Range(here, here), types.CodeActionContext(diagnostics=[diagnostic])))
    fix = next(a for a in listed if a.title == "Fix this")
    resolved = await asyncio.wait_for(two.code_action_resolve_async(fix), 300)
    assert apply_workspace_edit(BROKEN, uri, resolved.edit) == BROKEN.replace("in values\n", "in values:\n")
    logs = [m.message for m in two.log_messages if m.message.startswith("fix:")]
    assert logs and logs[-1].startswith("fix: offered after 0 model tries (parser)"), logs
