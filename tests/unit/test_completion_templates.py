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


def built_tokenizer(special: list[str]):
    """A real (tiny, word-level) fast tokenizer holding `special` as special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["def", "f", "x", "return", "class", "A", "a.py", "b.py", "repo", "[UNK]"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]")
    tokenizer.add_special_tokens({"additional_special_tokens": special})
    return tokenizer


REPO_CTX = PromptContext(prefix="def f(x):\n    return ", suffix="\n", header="# a.py\nclass A: ...\n# b.py\nimport os\n",
                         files=(("a.py", "class A: ...\n"),), local_header="import os\n", path="b.py",
                         repo_name="repo")


@pytest.mark.parametrize(("special", "model_type", "rendered"), [
    (QWEN, "qwen2", "<|repo_name|>repo\n<|file_sep|>a.py\nclass A: ...\n<|file_sep|>b.py\n"
                    "<|fim_prefix|>import os\ndef f(x):\n    return <|fim_suffix|>\n<|fim_middle|>"),
    (STARCODER + ["<repo_name>"], "starcoder2", "<repo_name>repo<file_sep>a.py\nclass A: ...\n<file_sep>"
                                                "<fim_prefix>b.py\nimport os\ndef f(x):\n    return <fim_suffix>\n<fim_middle>"),
    (SMOLLM2, "llama", "<repo_name>repo<file_sep>a.py\nclass A: ...\n<file_sep>b.py\nimport os\ndef f(x):\n    return "),
    (DEEPSEEK, "llama", "<｜fim▁begin｜># a.py\nclass A: ...\n# b.py\nimport os\ndef f(x):\n    return <｜fim▁hole｜>\n"
                        "<｜fim▁end｜>"),
])
def test_repository_templates_by_token(special, model_type, rendered) -> None:
    tokenizer = built_tokenizer(special)
    template = select_template(tokenizer.all_special_tokens, model_type)
    prompt = template.render(REPO_CTX)
    assert prompt == rendered
    if template.repo is not None:  # each repository token is one token of this tokenizer
        ids = tokenizer.encode(prompt, add_special_tokens=False)
        for token in (template.repo.repo_name, template.repo.file_sep):
            assert tokenizer.convert_tokens_to_ids(token) in ids


def test_repository_layout_only_with_other_files() -> None:
    template = select_template(built_tokenizer(QWEN).all_special_tokens, "qwen2")
    assert template.repo is not None
    assert template.render(CTX) == "<|fim_prefix|>import os\ndef f(x):\n    return <|fim_suffix|>\n\nprint(f(2))\n<|fim_middle|>"
