"""Prompt templates chosen by the tokenizer's special tokens."""

from __future__ import annotations

import pytest
from distill_lsp.completion.templates import select_template
from distill_lsp.context.builder import PromptContext

QWEN = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>",
        "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
STARCODER = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<file_sep>"]
DEEPSEEK = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>",
            "<｜fim▁end｜>", "<|EOT|>"]
CODELLAMA = ["<s>", "</s>", "▁<PRE>", "▁<MID>", "▁<SUF>", "▁<EOT>"]
SMOLLM2 = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<file_sep>"]
CTX = PromptContext(prefix="def f(x):\n    return ", suffix="\n\nprint(f(2))\n", header="import os\n")


@pytest.mark.parametrize(
    ("tokens", "model_type", "name", "rendered", "stops"),
    [
        (QWEN, "qwen2", "qwen",
         "<|fim_prefix|>import os\ndef f(x):\n    return <|fim_suffix|>\n\nprint(f(2))\n<|fim_middle|>",
         {"<|endoftext|>", "<|file_sep|>", "<|fim_prefix|>", "<|fim_middle|>", "<|im_end|>"}),
        (STARCODER, "starcoder2", "starcoder",
         "<fim_prefix>import os\ndef f(x):\n    return <fim_suffix>\n\nprint(f(2))\n<fim_middle>",
         {"<|endoftext|>", "<file_sep>", "<fim_prefix>"}),
        (DEEPSEEK, "llama", "deepseek",
         "<｜fim▁begin｜>import os\ndef f(x):\n    return <｜fim▁hole｜>\n\nprint(f(2))\n<｜fim▁end｜>",
         {"<｜end▁of▁sentence｜>", "<|EOT|>"}),
        (CODELLAMA, "llama", "codellama",
         "<PRE> import os\ndef f(x):\n    return  <SUF>\n\nprint(f(2))\n <MID>", {"▁<EOT>", "</s>"}),
        (SMOLLM2, "llama", "prefix-only", "import os\ndef f(x):\n    return ",
         {"<|endoftext|>", "<|im_end|>", "<file_sep>"}),
        ([], None, "prefix-only", "import os\ndef f(x):\n    return ", set()),
    ],
)
def test_select_and_render(tokens, model_type, name, rendered, stops) -> None:
    template = select_template(tokens, model_type)
    assert template.name == name
    assert template.is_fim == (name != "prefix-only")
    assert template.render(CTX) == rendered
    assert stops <= set(template.stop_tokens)
    assert set(template.stop_tokens) <= set(tokens)


def test_fim_needs_all_three_tokens() -> None:
    assert select_template(["<|fim_prefix|>", "<|fim_suffix|>"], "qwen2").name == "prefix-only"


def test_model_type_breaks_ties() -> None:
    both = QWEN + STARCODER
    assert select_template(both, "starcoder2").name == "starcoder"
    assert select_template(both, "qwen2").name == "qwen"


def test_fim_can_be_turned_off() -> None:
    template = select_template(QWEN, "qwen2", fim=False)
    assert not template.is_fim
    assert template.render(CTX) == "import os\ndef f(x):\n    return "
    assert "<|fim_middle|>" in template.stop_tokens
