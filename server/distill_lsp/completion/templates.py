"""Prompt templates per model family: fill-in-the-middle when the tokenizer has the
family's FIM tokens, plain prefix continuation otherwise; a repository-level layout (other
files named by `<|file_sep|>` / `<file_sep>` under `<|repo_name|>` / `<repo_name>`) when
the tokenizer has those tokens and the context holds other files.

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
    repo: RepoTokens | None = None
    """The repository-level tokens the tokenizer has, if any."""

    @property
    def is_fim(self) -> bool:
        return bool(self.fim_prefix and self.fim_suffix and self.fim_middle)

    def render(self, ctx: PromptContext) -> str:
        """The prompt text; the model's output continues at the cursor."""
        if self.repo is not None and ctx.files:
            return self._render_repo(ctx, self.repo)
        if not self.is_fim:
            return ctx.header + ctx.prefix
        return f"{self.fim_prefix}{ctx.header}{ctx.prefix}{self.fim_suffix}{ctx.suffix}{self.fim_middle}"

    def _render_repo(self, ctx: PromptContext, repo: RepoTokens) -> str:
        """Qwen2.5-Coder: `<|repo_name|>r\n<|file_sep|>a.py\n...<|file_sep|>b.py\n<|fim_prefix|>...`;
        StarCoder2: `<repo_name>r<file_sep>a.py\n...<file_sep><fim_prefix>b.py\n...`."""
        name = ctx.repo_name or "repository"
        files = "".join(f"{repo.file_sep}{path}\n{text}" for path, text in ctx.files)
        current = ctx.path or "current file"
        body = ctx.local_header + ctx.prefix
        if repo.newline:  # Qwen2.5-Coder
            head = f"{repo.repo_name}{name}\n{files}{repo.file_sep}{current}\n"
            if not self.is_fim:
                return head + body
            return f"{head}{self.fim_prefix}{body}{self.fim_suffix}{ctx.suffix}{self.fim_middle}"
        head = f"{repo.repo_name}{name}{files}{repo.file_sep}"
        if not self.is_fim:
            return f"{head}{current}\n{body}"
        return f"{head}{self.fim_prefix}{current}\n{body}{self.fim_suffix}{ctx.suffix}{self.fim_middle}"


@dataclass(frozen=True)
class RepoTokens:
    """A family's repository-level tokens."""

    repo_name: str
    file_sep: str
    newline: bool
    """A newline after the repository's name (Qwen2.5-Coder) or not (StarCoder2)."""


REPO_TOKENS = (RepoTokens("<|repo_name|>", "<|file_sep|>", True), RepoTokens("<repo_name>", "<file_sep>", False))


def repo_tokens(tokens: Collection[str]) -> RepoTokens | None:
    """The repository-level tokens the tokenizer has (both of a pair), if any."""
    return next((r for r in REPO_TOKENS if r.repo_name in tokens and r.file_sep in tokens), None)


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
        return PromptTemplate("prefix-only", stop_tokens=_stops(tokens, found[0] if found else None),
                              repo=repo_tokens(tokens))
    family = found[0]
    pre, suf, mid = family.text
    return PromptTemplate(family.name, pre, suf, mid, _stops(tokens, family), repo_tokens(tokens))
