"""Prompt templates per model family: fill-in-the-middle when the tokenizer has the
family's FIM tokens, plain prefix continuation otherwise.

A template only formats text; the tokenizer turns the special-token strings into ids.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from ..context.builder import PromptContext

logger = logging.getLogger(__name__)

_END_TOKENS = (
    "<|endoftext|>", "<|im_end|>", "</s>", "<|end_of_text|>", "<|eot_id|>", "<|EOT|>",
    "<｜end▁of▁sentence｜>", "<|file_sep|>", "<file_sep>", "<|repo_name|>", "<repo_name>",
    "<|fim_pad|>", "<fim_pad>",
)


@dataclass(frozen=True)
class PromptTemplate:
    """How to lay out a `PromptContext` for one model family."""

    name: str
    fim_prefix: str = ""
    fim_suffix: str = ""
    fim_middle: str = ""
    stop_tokens: tuple[str, ...] = ()
    """Strings that end a generation (only those the tokenizer knows)."""

    @property
    def is_fim(self) -> bool:
        return bool(self.fim_prefix and self.fim_suffix and self.fim_middle)

    def render(self, ctx: PromptContext) -> str:
        """The prompt text; the model's output continues at the cursor."""
        if not self.is_fim:
            return ctx.header + ctx.prefix
        return f"{self.fim_prefix}{ctx.header}{ctx.prefix}{self.fim_suffix}{ctx.suffix}{self.fim_middle}"


@dataclass(frozen=True)
class _Family:
    name: str
    prefix: tuple[str, ...]
    suffix: tuple[str, ...]
    middle: tuple[str, ...]
    text: tuple[str, str, str]
    """The strings written into the prompt for prefix, suffix and middle."""
    model_types: tuple[str, ...]
    extra_stops: tuple[str, ...] = ()


FAMILIES: tuple[_Family, ...] = (
    _Family("qwen", ("<|fim_prefix|>",), ("<|fim_suffix|>",), ("<|fim_middle|>",),
            ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"), ("qwen2", "qwen3", "qwen2_moe")),
    _Family("starcoder", ("<fim_prefix>",), ("<fim_suffix>",), ("<fim_middle>",),
            ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
            ("starcoder2", "gpt_bigcode", "llama")),
    _Family("deepseek", ("<｜fim▁begin｜>",), ("<｜fim▁hole｜>",), ("<｜fim▁end｜>",),
            ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"), ("llama", "deepseek_v2", "deepseek_v3")),
    _Family("codellama", ("▁<PRE>", "<PRE>"), ("▁<SUF>", "<SUF>"), ("▁<MID>", "<MID>"),
            ("<PRE> ", " <SUF>", " <MID>"), ("llama",), ("▁<EOT>", "<EOT>")),
)


def _has(tokens: Collection[str], options: tuple[str, ...]) -> bool:
    return any(t in tokens for t in options)


def _stops(tokens: Collection[str], family: _Family | None) -> tuple[str, ...]:
    candidates = list(_END_TOKENS)
    if family is not None:
        candidates += [*family.prefix, *family.suffix, *family.middle, *family.extra_stops]
    present = [t for t in candidates if t in tokens]
    return tuple(dict.fromkeys(present))


def select_template(special_tokens: Collection[str], model_type: str | None, *,
                    fim: bool = True) -> PromptTemplate:
    """The template for a tokenizer: the FIM family whose three tokens it has (the one
    matching `model_type` first when several do), else prefix-only. `fim=False` forces
    prefix-only (for models that carry FIM tokens without FIM training)."""
    tokens = set(special_tokens)
    found = [f for f in FAMILIES if _has(tokens, f.prefix) and _has(tokens, f.suffix)
             and _has(tokens, f.middle)]
    found.sort(key=lambda f: (model_type or "") not in f.model_types)
    if not fim or not found:
        logger.debug("prefix-only template (fim=%s, families with tokens: %s)", fim,
                     [f.name for f in found])
        return PromptTemplate("prefix-only", stop_tokens=_stops(tokens, found[0] if found else None))
    family = found[0]
    pre, suf, mid = family.text
    return PromptTemplate(family.name, pre, suf, mid, _stops(tokens, family))
