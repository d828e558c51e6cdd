"""Reading a chat model's answer: reasoning, fenced code, special tokens, indentation.

R1-style reasoning models write ``<think> ... </think>`` before the answer; their chat
template often already puts ``<think>\\n`` at the end of the prompt, so the generated
text may lack the opening tag. Answers carry code in Markdown fences (``` or ~~~),
sometimes unclosed when generation hit the token limit. These helpers are pure text
functions, unit-tested without a model.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

# Fence info-string spellings per canonical language (LSP language ids map here too).
_FENCE_ALIASES: dict[str, frozenset[str]] = {
    "python": frozenset({"python", "py", "python3", "py3"}),
    "javascript": frozenset({"javascript", "js", "jsx", "javascriptreact", "node", "mjs", "cjs"}),
    "typescript": frozenset({"typescript", "ts", "tsx", "typescriptreact"}),
    "go": frozenset({"go", "golang"}),
    "rust": frozenset({"rust", "rs"}),
    "java": frozenset({"java"}),
    "c": frozenset({"c", "h"}),
    "cpp": frozenset({"cpp", "c++", "cc", "cxx", "hpp", "hh", "hxx"}),
}
_UNTAGGED = frozenset({"", "text", "plaintext", "plain", "txt", "code"})

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*$")
_SPECIAL_TOKEN = re.compile(r"<\|[A-Za-z0-9_▁.:/\-]{1,64}\|>|<｜[^｜\n]{1,64}｜>|</?think>")
_PROSE_LINE = re.compile(r"^[A-Z][A-Za-z']*(?:[ ,]+[A-Za-z'`()\-]+){3,}[^;{}]*[.:!?]$")


def canonical_language(language: str | None) -> str | None:
    """The canonical name (``"python"``, ``"cpp"`` ...) for a language id or fence tag."""
    if language is None:
        return None
    key = language.strip().lower()
    for name, aliases in _FENCE_ALIASES.items():
        if key in aliases:
            return name
    return key or None


def prompt_opens_think(prompt: str) -> bool:
    """True when a rendered prompt ends inside an opened ``<think>`` block (R1 templates)."""
    tail = prompt.rstrip()
    return tail.endswith(THINK_OPEN) and THINK_CLOSE not in tail[tail.rfind(THINK_OPEN) :]


def split_reasoning(text: str, *, prompt_opened_think: bool = False) -> tuple[str, str]:
    """Split generated text into ``(reasoning, answer)``, both stripped.

    Handles a closed ``<think>...</think>`` block (its opening tag may be missing when
    the template put it in the prompt), an unclosed block (generation stopped while
    thinking: the answer is ``""``) and no block at all (everything is the answer).
    With ``prompt_opened_think`` a text without any tag is unfinished reasoning.
    """
    close = text.find(THINK_CLOSE)
    if close >= 0:
        head, answer = text[:close], text[close + len(THINK_CLOSE) :]
        opened = head.find(THINK_OPEN)
        if opened < 0:
            return head.strip(), answer.strip()
        before = head[:opened]
        reasoning = head[opened + len(THINK_OPEN) :]
        return reasoning.strip(), (before + answer).strip()
    opened = text.find(THINK_OPEN)
    if opened >= 0 and not text[:opened].strip():
        return text[opened + len(THINK_OPEN) :].strip(), ""
    if prompt_opened_think:
        return text.strip(), ""
    return "", text.strip()


def strip_special_tokens(text: str, special_tokens: Iterable[str] = ()) -> str:
    """Remove the tokenizer's special tokens, ``<|...|>`` / ``<｜...｜>`` tokens and think tags."""
    for token in sorted(set(special_tokens), key=len, reverse=True):
        if token:
            text = text.replace(token, "")
    return _SPECIAL_TOKEN.sub("", text)


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block of a Markdown answer."""

    info: str
    code: str
    closed: bool


def fenced_blocks(answer: str) -> list[CodeBlock]:
    """All fenced blocks of ``answer`` in order; a final unclosed fence runs to the end."""
    blocks: list[CodeBlock] = []
    lines = answer.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            i += 1
            continue
        block, i = _read_block(lines, i + 1, opening)
        blocks.append(block)
    return blocks


def _read_block(lines: list[str], i: int, opening: re.Match[str]) -> tuple[CodeBlock, int]:
    fence, indent = opening["fence"], len(opening["indent"])
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
    body: list[str] = []
    while i < len(lines):
        if closing.match(lines[i]):
            return CodeBlock(opening["info"], "\n".join(body), True), i + 1
        body.append(_remove_indent(lines[i], indent))
        i += 1
    return CodeBlock(opening["info"], "\n".join(body), False), i


def _remove_indent(line: str, width: int) -> str:
    """Drop up to ``width`` leading whitespace characters (the fence's own indentation)."""
    cut = 0
    while cut < width and cut < len(line) and line[cut] in " \t":
        cut += 1
    return line[cut:]


def extract_code_block(answer: str, language: str | None) -> str | None:
    """The fenced block to use from an answer, or None when it has no fenced block.

    Preference: the longest block tagged with ``language`` (any alias), else the
    longest untagged block; with no language known, the longest block of any tag.
    Blocks tagged with another language (a shell command, say) are never used.
    """
    blocks = fenced_blocks(answer)
    if not blocks:
        return None
    wanted = canonical_language(language)
    tags = [canonical_language(_first_word(b.info)) for b in blocks]
    tagged = [b for b, tag in zip(blocks, tags, strict=True) if wanted is not None and tag == wanted]
    untagged = [b for b, tag in zip(blocks, tags, strict=True) if tag is None or tag in _UNTAGGED]
    candidates = tagged or untagged or (blocks if wanted is None else [])
    if not candidates:
        logger.debug("no fenced block for %s among tags %s", wanted, tags)
        return None
    return max(candidates, key=lambda b: len(b.code.strip())).code


def _first_word(info: str) -> str:
    word = info.split(maxsplit=1)[0] if info.strip() else ""
    return word.strip("{}.").split(",")[0]


def bare_code(answer: str) -> str | None:
    """The whole answer when it plainly is code (no fences, no prose sentences), else None.

    A sentence starting at column 0 (``"Here is the fixed code:"``) marks prose; callers
    should still check the result parses, as ``edits.make_replacement`` does.
    """
    text = answer.strip("\n")
    if not text.strip() or "```" in text or "~~~" in text:
        return None
    for line in text.splitlines():
        if line[:1] not in (" ", "\t") and _PROSE_LINE.match(line.strip()):
            return None
    return text


def reindent(code: str, indent: str, indent_unit: str = "    ", *, tab_size: int = 4) -> str:
    """Dedent ``code`` and indent every non-empty line with ``indent``.

    Relative indentation is kept, expressed in the document's ``indent_unit``: tabs
    become units, and space-indented code is rescaled from its own step (2, 4 or 8)
    to the unit. Blank lines become empty. No trailing newline is added.
    """
    lines = [line.rstrip() for line in code.splitlines()]
    columns = [_indent_columns(line, tab_size) for line in lines]
    used = [col for line, col in zip(lines, columns, strict=True) if line]
    if not used:
        return ""
    base = min(used)
    uses_tabs = any(line[: len(line) - len(line.lstrip(" \t"))].count("\t") for line in lines)
    step = tab_size if uses_tabs else _space_step(used)
    out = []
    for line, col in zip(lines, columns, strict=True):
        if not line:
            out.append("")
            continue
        level, rest = divmod(col - base, step) if step else (0, col - base)
        out.append(indent + _render_indent(level, rest, indent_unit) + line.lstrip(" \t"))
    return "\n".join(out)


def _indent_columns(line: str, tab_size: int) -> int:
    stripped = line.lstrip(" \t")
    return len(line[: len(line) - len(stripped)].expandtabs(tab_size))


def _space_step(columns: list[int]) -> int:
    """The indentation step of space-indented code (2, 4 or 8), or 0 when unclear.

    The most common increase of 2, 4 or 8 between consecutive lines wins, so a
    continuation line aligned under a bracket or a `` * `` comment line does not decide it.
    """
    increases = [b - a for a, b in itertools.pairwise(columns) if b - a in (2, 4, 8)]
    if not increases:
        return 0
    return Counter(increases).most_common(1)[0][0]


def _render_indent(level: int, rest: int, indent_unit: str) -> str:
    if not indent_unit:
        raise ValueError("indent_unit must not be empty")
    return indent_unit * level + " " * rest
