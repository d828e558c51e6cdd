"""Chat prompts for the Explain / Fix / Document actions, and their rendering.

``build_messages`` writes the system + user messages for one action; ``render_prompt``
turns them into the prompt string a local model sees: through the tokenizer's chat
template when it has one (R1-distill templates end with ``<｜Assistant｜><think>\\n``),
else as a plain "### Instruction / ### Response" prompt. An OpenAI-compatible backend
can send the messages as they are.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from typing import Protocol

from distill_lsp.actions.answer import canonical_language

logger = logging.getLogger(__name__)


class ActionKind(enum.StrEnum):
    """The three model-backed code actions."""

    EXPLAIN = "explain"
    FIX = "fix"
    DOCUMENT = "document"


class ChatTokenizer(Protocol):
    """The part of a transformers tokenizer that ``render_prompt`` uses."""

    chat_template: str | None

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: object) -> object: ...


_DISPLAY_NAMES = {
    "python": "Python",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "go": "Go",
    "rust": "Rust",
    "java": "Java",
    "c": "C",
    "cpp": "C++",
}

_DOC_CONVENTIONS = {
    "python": "a PEP 257 docstring (triple double quotes) as the first statement of the body",
    "javascript": "a JSDoc comment (/** ... */) directly above the declaration, with @param and @returns tags",
    "typescript": "a JSDoc comment (/** ... */) directly above the declaration, with @param and @returns tags",
    "rust": "/// doc comments directly above the item (//! only for modules), in Markdown",
    "go": "a Go doc comment: // lines directly above the declaration, starting with the declared name",
    "java": "a Javadoc comment (/** ... */) directly above the declaration, with @param, @return and @throws tags",
    "c": "a Doxygen comment (/** ... */) directly above the declaration, with @brief, @param and @return",
    "cpp": "a Doxygen comment (/** ... */) directly above the declaration, with @brief, @param and @return",
}
_DEFAULT_DOC_CONVENTION = "a documentation comment in the language's usual convention"

_SYSTEMS = {
    ActionKind.EXPLAIN: (
        "You are an expert programmer explaining code to a colleague. Answer in Markdown: "
        "start with a one-sentence summary, then explain what the code does and how, and "
        "point out bugs or surprising behaviour. Be concise."
    ),
    ActionKind.FIX: (
        "You are an expert programmer fixing code. Return the corrected code only, in one "
        "fenced code block, with the same indentation and nothing after it. Change as little "
        "as possible and keep the code's style."
    ),
    ActionKind.DOCUMENT: (
        "You are an expert programmer writing documentation. Return the same code with "
        "documentation added, in one fenced code block. Do not change the code itself."
    ),
}


def fence(code: str, language: str | None) -> str:
    """``code`` in a Markdown fence long enough not to clash with fences inside it."""
    longest = _longest_run(code, "`")
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{canonical_language(language) or ''}\n{code.rstrip()}\n{ticks}"


def _longest_run(text: str, char: str) -> int:
    best = run = 0
    for c in text:
        run = run + 1 if c == char else 0
        best = max(best, run)
    return best


def doc_convention(language: str | None) -> str:
    """How documentation is written in ``language`` (for the Document prompt)."""
    return _DOC_CONVENTIONS.get(canonical_language(language) or "", _DEFAULT_DOC_CONVENTION)


def build_messages(
    kind: ActionKind,
    *,
    code: str,
    language: str | None,
    path: str | None,
    diagnostics: Sequence[str],
    surrounding: str | None,
    hints: Sequence[str] = (),
    focus: tuple[int, str] | None = None,
) -> list[dict[str, str]]:
    """The system and user chat messages for one action on ``code`` (``hints``: what the
    parser says about it, e.g. ``line 3: missing `)` after `f(a```; ``focus``: a Fix of
    one line, its 1-based number and text, answered with that line alone)."""
    parts = _user_parts(kind, code, language, path, diagnostics, surrounding, hints)
    if focus is not None and kind is ActionKind.FIX:
        lang = canonical_language(language)
        parts[-1] = (f"Line {focus[0]} is:\n{fence(focus[1], lang)}\n\nReply with line {focus[0]} corrected, "
                     f"and nothing else, in one ```{lang or ''} block.")
    user = "\n\n".join(parts)
    return [{"role": "system", "content": _SYSTEMS[kind]}, {"role": "user", "content": user}]


def _user_parts(kind: ActionKind, code: str, language: str | None, path: str | None,
                diagnostics: Sequence[str], surrounding: str | None, hints: Sequence[str] = ()) -> list[str]:
    lang = canonical_language(language)
    name = _DISPLAY_NAMES.get(lang or "", language or "")
    where = f" from `{path}`" if path else ""
    parts = []
    if surrounding and surrounding.strip():
        parts.append(f"Surrounding code (context only, do not repeat it):\n{fence(surrounding, lang)}")
    parts.append(f"{name + ' code' if name else 'Code'}{where}:\n{fence(code, lang)}")
    if diagnostics:
        parts.append("Diagnostics reported for this code:\n" + "\n".join(f"- {d}" for d in diagnostics))
    if hints:
        parts.append("The parser reports:\n" + "\n".join(f"- {h}" for h in hints))
    parts.append(_task(kind, lang))
    return parts


def _task(kind: ActionKind, lang: str | None) -> str:
    tag = lang or ""
    if kind is ActionKind.EXPLAIN:
        return "Explain this code."
    if kind is ActionKind.FIX:
        return (
            "Fix the problems in this code (the diagnostics above, if any). "
            f"Reply with the corrected code only, in one ```{tag} block."
        )
    return (
        f"Document this code with {doc_convention(lang)}. "
        f"Reply with the same code and its documentation only, in one ```{tag} block."
    )


def render_prompt(tokenizer: ChatTokenizer | None, messages: list[dict[str, str]]) -> str:
    """The prompt text: the tokenizer's chat template if set, else a plain instruction prompt.

    A chat template usually includes the BOS token; tokenize the result with
    ``add_special_tokens=False``.
    """
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if not isinstance(rendered, str):
            raise TypeError(f"apply_chat_template returned {type(rendered).__name__}, expected str")
        return rendered
    return plain_prompt(messages)


def plain_prompt(messages: list[dict[str, str]]) -> str:
    """A template-free prompt for base models: ``### Instruction ... ### Response``."""
    instruction = "\n\n".join(m["content"].strip() for m in messages if m["role"] in ("system", "user"))
    return f"### Instruction\n{instruction}\n\n### Response\n"
