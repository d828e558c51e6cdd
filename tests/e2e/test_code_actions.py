"""Explain / Fix / Document end to end over stdio: the bundled SmolLM2 (a client that
resolves edits and shows documents) and a tiny random Qwen2 with an R1 template (a
client like eglot 1.9: no resolve, no showDocument, so commands + workspace/applyEdit)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
import tree_sitter
import tree_sitter_python
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from distill_lsp.headless_actions import apply_workspace_edit
from tests.fixtures.tiny_r1 import build_tiny_r1
from tests.helpers import SERVER_CMD, record_applied_edits, open_doc, plain, wait_ready

ROOT = Path(__file__).resolve().parents[2]
BROKEN_PY = '''def mean(values):
    total = 0
    for v in values
        total += v
    return total / len(values)
'''
GOOD_PY = '''def mean(values):
    total = 0
    for v in values:
        total += v
    return total / len(values)
'''
SMOL = {"explainProfile": "greedy", "fixProfile": "greedy", "documentProfile": "greedy",
        "actionMaxNewTokens": 40, "reasoningTokens": 16, "threads": 2}
TINY = {**SMOL, "actionMaxNewTokens": 12, "reasoningTokens": 8}
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))


def caps(*, resolve: bool, show_document: bool) -> types.ClientCapabilities:
    code_action = types.CodeActionClientCapabilities(
        resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]) if resolve else None)
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(
            work_done_progress=True,
            show_document=types.ShowDocumentClientCapabilities(support=True) if show_document else None),
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True, workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=resolve)),
        text_document=types.TextDocumentClientCapabilities(code_action=code_action),
    )


async def start(client: LanguageClient, options: dict[str, Any], **kw: bool) -> None:
    record_applied_edits(client)

    await client.initialize_session(types.InitializeParams(capabilities=caps(**kw), initialization_options=options))


def actions_params(uri: str, line: int, diagnostics: list[types.Diagnostic] | None = None) -> types.CodeActionParams:
    here = types.Position(line, 4)
    return types.CodeActionParams(types.TextDocumentIdentifier(uri), types.Range(here, here),
                                  types.CodeActionContext(diagnostics=diagnostics or []))


def by_kind(actions: Any, suffix: str) -> types.CodeAction:
    found = [a for a in actions or [] if isinstance(a, types.CodeAction) and a.kind.endswith(suffix)]
    assert len(found) == 1, actions
    return found[0]


def parses(text: str) -> bool:
    return not PARSER.parse(text.encode()).root_node.has_error


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def smol(lsp_client: LanguageClient, tmp_path_factory: pytest.TempPathFactory):
    await start(lsp_client, SMOL, resolve=True, show_document=True)
    lsp_client.dir = tmp_path_factory.mktemp("smol")
    uri = (lsp_client.dir / "listing.py").as_uri()
    open_doc(lsp_client, uri, BROKEN_PY)
    asked = time.monotonic()
    lsp_client.early = await lsp_client.text_document_code_action_async(actions_params(uri, 2))
    lsp_client.early_s = time.monotonic() - asked
    lsp_client.status = await wait_ready(lsp_client)
    lsp_client.ready_after_s = time.monotonic() - asked
    yield
    await lsp_client.shutdown_session()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_r1(tmp_path_factory.mktemp("tiny-r1"))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_CMD), scope="module")
async def eglot(lsp_client: LanguageClient, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    await start(lsp_client, {**TINY, "model": str(tiny_model)}, resolve=False, show_document=False)
    lsp_client.dir = tmp_path_factory.mktemp("eglot")
    lsp_client.status = await wait_ready(lsp_client)
    yield
    await lsp_client.shutdown_session()


# -- SmolLM2, a client that resolves edits ------------------------------------------------

def test_listing_is_instant_and_model_free(smol: LanguageClient) -> None:
    assert smol.early_s < 3 and smol.early_s < smol.ready_after_s, "listing waited for the model"
    assert [a.title for a in smol.early] == ["Explain this", "Fix this", "Document this"]
    fix = smol.early[1]
    assert fix.kind.startswith("quickfix") and fix.command is None  # resolved lazily
    assert fix.data["kind"] == "fix" and fix.data["version"] == 1 and fix.data["range"]["start"]["line"] == 0
    assert smol.early[0].command.command == "distill.explain"
    assert smol.status["state"] == "ready" and "SmolLM2" in smol.status["model"]


async def test_fix_not_offered_for_good_code_without_diagnostics(smol: LanguageClient) -> None:
    uri = (smol.dir / "good.py").as_uri()
    open_doc(smol, uri, GOOD_PY)
    titles = [a.title for a in await smol.text_document_code_action_async(actions_params(uri, 2))]
    assert titles == ["Explain this", "Document this"]
    diag = types.Diagnostic(types.Range(types.Position(2, 0), types.Position(2, 5)), "undefined name 'v'")
    with_diag = await smol.text_document_code_action_async(actions_params(uri, 2, [diag]))
    assert by_kind(with_diag, "fix").data["diagnostics"] == ["undefined name 'v'"]
    only = types.CodeActionParams(types.TextDocumentIdentifier(uri), types.Range(types.Position(2, 4), types.Position(2, 4)),
                                  types.CodeActionContext(diagnostics=[diag], only=[types.CodeActionKind.QuickFix]))
    assert [a.kind for a in await smol.text_document_code_action_async(only)] == ["quickfix.distill.fix"]


async def test_the_missing_colon_is_fixed_by_the_parser_at_once(smol: LanguageClient) -> None:
    uri = (smol.dir / "colon.py").as_uri()
    open_doc(smol, uri, BROKEN_PY)
    fix = by_kind(await smol.text_document_code_action_async(actions_params(uri, 2)), "fix")
    resolved = await asyncio.wait_for(smol.code_action_resolve_async(fix), 240)
    assert apply_workspace_edit(BROKEN_PY, uri, resolved.edit) == GOOD_PY
    [edit] = resolved.edit.document_changes[0].edits
    end_of_for = types.Position(2, len("    for v in values"))
    assert (edit.new_text, edit.range.start, edit.range.end) == (":", end_of_for, end_of_for)  # the colon, nothing else


async def test_the_models_fix_parses_or_is_refused_after_its_tries(smol: LanguageClient) -> None:
    smol.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"parserRepair": False, "actionTries": 2}))
    uri = (smol.dir / "broken.py").as_uri()
    open_doc(smol, uri, BROKEN_PY)
    fix = by_kind(await smol.text_document_code_action_async(actions_params(uri, 2)), "fix")
    before = len(smol.messages)
    try:
        resolved = await asyncio.wait_for(smol.code_action_resolve_async(fix), 240)
    except asyncio.TimeoutError:
        raise
    except Exception as exc:  # a refusal: an error answer and a message saying why, after its tries
        assert "no fix offered" in str(exc) and "after 2 tries in" in str(exc)
        assert any("no fix offered" in m.message for m in smol.messages[before:])
        return
    finally:
        smol.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"parserRepair": True, "actionTries": 4}))
    new = apply_workspace_edit(BROKEN_PY, uri, resolved.edit)
    assert new != BROKEN_PY and parses(new), new
    assert resolved.edit.document_changes[0].text_document.version == 1


async def test_explain_opens_markdown_with_show_document(smol: LanguageClient) -> None:
    uri = (smol.dir / "explain.py").as_uri()
    open_doc(smol, uri, GOOD_PY)
    explain = by_kind(await smol.text_document_code_action_async(actions_params(uri, 1)), "explain")
    result = await asyncio.wait_for(smol.workspace_execute_command_async(types.ExecuteCommandParams(
        command=explain.command.command, arguments=explain.command.arguments)), 240)
    result = plain(result)
    path = Path(result["path"])
    assert path.parent.name == "explanations" and path.suffix == ".md"
    assert smol.shown_documents[-1].uri == path.as_uri()
    text = path.read_text()
    assert text.startswith("## Explanation: explain.py lines 1-5\n\n") and len(text.strip()) > 40
    assert 0 < result["newTokens"] <= SMOL["actionMaxNewTokens"]
    reports = [r for token, rs in smol.progress_reports.items() if str(token).startswith("distill-action-") for r in rs]
    assert reports[0].kind == "begin" and reports[-1].kind == "end"
    assert any(r.kind == "report" and "tokens" in (r.message or "") for r in reports)


async def test_stale_version_is_refused_without_generating(smol: LanguageClient) -> None:
    uri = (smol.dir / "stale.py").as_uri()
    open_doc(smol, uri, BROKEN_PY)
    fix = by_kind(await smol.text_document_code_action_async(actions_params(uri, 2)), "fix")
    smol.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=BROKEN_PY + "\n")]))
    tokens_before = len(smol.progress_reports)
    asked = time.monotonic()
    with pytest.raises(Exception, match="changed since"):
        await smol.code_action_resolve_async(fix)
    assert time.monotonic() - asked < 5
    assert len(smol.progress_reports) == tokens_before, "a generation was started"
    assert "changed since" in smol.messages[-1].message


async def test_cancel_through_work_done_progress(smol: LanguageClient) -> None:
    smol.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"distill": {"actionMaxNewTokens": 2048}}))
    uri = (smol.dir / "cancel.py").as_uri()
    open_doc(smol, uri, GOOD_PY)
    explain = by_kind(await smol.text_document_code_action_async(actions_params(uri, 1)), "explain")
    known = set(smol.progress_reports)
    try:
        pending = asyncio.ensure_future(smol.workspace_execute_command_async(types.ExecuteCommandParams(
            command=explain.command.command, arguments=explain.command.arguments)))
        token = await _first_report(smol, known)
        cancelled_at = time.monotonic()
        smol.protocol.notify(types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token))
        with pytest.raises(Exception, match="cancelled"):
            await asyncio.wait_for(pending, 60)
        await _wait_end(smol, token)
        assert time.monotonic() - cancelled_at < 15, "cancel did not stop the generation"
    finally:
        smol.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"distill": {"actionMaxNewTokens": SMOL["actionMaxNewTokens"]}}))


async def _first_report(client: LanguageClient, known: set[Any]) -> Any:
    for _ in range(600):
        for token, reports in client.progress_reports.items():
            if token not in known and any(r.kind == "report" for r in reports):
                return token
        await asyncio.sleep(0.1)
    raise AssertionError("no progress report")


async def _wait_end(client: LanguageClient, token: Any) -> None:
    for _ in range(150):
        if client.progress_reports[token][-1].kind == "end":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the progress never ended")


# -- tiny R1 model, a client without resolve or showDocument (like eglot 1.9) -----------

async def test_actions_carry_commands_without_resolve_support(eglot: LanguageClient) -> None:
    uri = (eglot.dir / "list.py").as_uri()
    open_doc(eglot, uri, BROKEN_PY)
    actions = await eglot.text_document_code_action_async(actions_params(uri, 2))
    assert [a.command.command for a in actions] == ["distill.explain", "distill.fix", "distill.document"]
    assert all(plain(a.command.arguments) == [plain(a.data)] for a in actions)


async def test_explain_falls_back_to_show_message_with_capped_reasoning(eglot: LanguageClient) -> None:
    uri = (eglot.dir / "explain.py").as_uri()
    open_doc(eglot, uri, GOOD_PY)
    explain = by_kind(await eglot.text_document_code_action_async(actions_params(uri, 1)), "explain")
    before = len(eglot.messages)
    result = plain(await asyncio.wait_for(eglot.workspace_execute_command_async(types.ExecuteCommandParams(
        command=explain.command.command, arguments=explain.command.arguments)), 120))
    assert result["reasoningCapped"] is True  # a random model never closes </think> itself
    assert result["newTokens"] <= TINY["reasoningTokens"] + TINY["actionMaxNewTokens"]
    markdown = result["markdown"]
    assert markdown.startswith("## Explanation") and "<details><summary>Reasoning</summary>" in markdown
    assert "</think>" not in markdown.split("<details>")[0]
    shown = [m.message for m in eglot.messages[before:]]
    assert any(m.startswith("## Explanation") and result["path"] in m for m in shown)
    assert any(log.message == markdown for log in eglot.log_messages)
    assert not eglot.shown_documents


async def test_fix_command_applies_edit_or_refuses(eglot: LanguageClient) -> None:
    uri = (eglot.dir / "fix.py").as_uri()
    open_doc(eglot, uri, BROKEN_PY)
    fix = by_kind(await eglot.text_document_code_action_async(actions_params(uri, 2)), "fix")
    before, applied = len(eglot.messages), len(eglot.applied)
    try:
        result = plain(await asyncio.wait_for(eglot.workspace_execute_command_async(types.ExecuteCommandParams(
            command=fix.command.command, arguments=fix.command.arguments)), 120))
    except asyncio.TimeoutError:
        raise
    except Exception as exc:  # the random model writes no valid code: refused, nothing applied
        assert "no fix offered: the model" in str(exc)
        assert any("no fix offered" in m.message for m in eglot.messages[before:])
        assert len(eglot.applied) == applied
        return
    assert result["applied"] is True
    assert apply_workspace_edit(BROKEN_PY, uri, eglot.applied[-1]) == GOOD_PY  # the parser's colon


async def test_cancel_request_stops_generation(eglot: LanguageClient) -> None:
    # Through codeAction/resolve: pygls' default protocol does not pass $/cancelRequest on
    # to a workspace/executeCommand handler (DistillProtocol does, once it is wired in).
    eglot.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"distill": {"actionMaxNewTokens": 8000, "reasoningTokens": 8000}}))
    uri = (eglot.dir / "cancel.py").as_uri()
    open_doc(eglot, uri, GOOD_PY)
    document = by_kind(await eglot.text_document_code_action_async(actions_params(uri, 1)), "document")
    known = set(eglot.progress_reports)
    try:
        pending = asyncio.ensure_future(eglot.protocol.send_request_async(
            types.CODE_ACTION_RESOLVE, types.CodeAction(title=document.title, kind=document.kind, data=document.data),
            msg_id="document-long"))
        token = await _first_report(eglot, known)
        cancelled_at = time.monotonic()
        eglot.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="document-long"))
        with pytest.raises(Exception, match="(?i)cancel"):
            await asyncio.wait_for(pending, 30)
        await _wait_end(eglot, token)
        assert time.monotonic() - cancelled_at < 15, "cancel did not stop the generation"
        await asyncio.sleep(0.5)
        assert eglot.progress_reports[token][-1].kind == "end", "progress reported after its end"
    finally:
        eglot.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"distill": {"actionMaxNewTokens": TINY["actionMaxNewTokens"],
                                  "reasoningTokens": TINY["reasoningTokens"]}}))
    # the engine is free again: the next action runs and answers
    explain = by_kind(await eglot.text_document_code_action_async(actions_params(uri, 1)), "explain")
    result = plain(await asyncio.wait_for(eglot.workspace_execute_command_async(types.ExecuteCommandParams(
        command=explain.command.command, arguments=explain.command.arguments)), 60))
    assert result["markdown"].startswith("## Explanation")


# -- headless ------------------------------------------------------------------------------

def _headless(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "server")}
    return subprocess.run([sys.executable, "-m", "distill_lsp", *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)


def test_headless_explain(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "demo.py"
    source.write_text(GOOD_PY)
    done = _headless("explain", f"{source}:1-5", "--model", str(tiny_model), "--reasoning-tokens", "4",
                     "--action-max-new-tokens", "8", "--profile", "greedy")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("## Explanation: demo.py lines 1-5")
    assert "<details><summary>Reasoning</summary>" in done.stdout


def test_headless_fix(tmp_path: Path) -> None:
    source = tmp_path / "broken.py"
    source.write_text(BROKEN_PY)
    done = _headless("fix", f"{source}:3", "--profile", "greedy", "--action-max-new-tokens", "40",
                     "--threads", "2", "--diagnostic", "expected ':'")
    assert source.read_text() == BROKEN_PY, "the headless fix must not write the file"
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"--- a/{source}\n+++ b/{source}\n"), done.stdout
    assert "-    for v in values\n+    for v in values:\n" in done.stdout
