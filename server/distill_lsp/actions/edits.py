"""Turning a model's answer into a checked replacement for a range of the document.

``make_replacement`` takes the raw generated text, drops reasoning and special tokens,
picks the code block, re-indents it to the surrounding code and gates it with
tree-sitter: the edited document must not have more ERROR/MISSING nodes than before,
a Fix must leave its region parsing cleanly, and a Document edit must leave the code
(everything but comments and docstrings) unchanged. A failed check is a refusal with
a reason the editor can show, not an exception. ``unified_diff`` serves the headless
``distill-lsp fix`` command.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import tree_sitter

from distill_lsp.actions.answer import (
    bare_code,
    extract_code_block,
    reindent,
    split_reasoning,
    strip_special_tokens,
)
from distill_lsp.actions.prompts import ActionKind
from distill_lsp.actions.targets import syntax_errors
from distill_lsp.context.parse_errors import count_errors
from distill_lsp.context.positions import byte_offset, encode

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplacementResult:
    """New text for ``[start, end)`` of the document, or why there is none.

    ``start`` may lie before the requested start: a range that begins after the
    indentation of its line is widened to the line start so the whole block is
    re-indented consistently.
    """

    start: int
    end: int
    new_text: str | None
    refusal: str | None = None
    reasoning: str = ""

    @property
    def ok(self) -> bool:
        """True when there is an edit to apply."""
        return self.new_text is not None


def make_replacement(
    text: str,
    start: int,
    end: int,
    answer: str,
    language: str | None,
    lang_ts: tree_sitter.Language,
    indent_unit: str,
    *,
    kind: ActionKind = ActionKind.FIX,
    special_tokens: Iterable[str] = (),
    prompt_opened_think: bool = False,
) -> ReplacementResult:
    """The checked replacement of ``text[start:end]`` from a raw model ``answer``.

    ``answer`` is the generated text as it came (reasoning and special tokens
    included); ``prompt_opened_think`` says the prompt ended inside ``<think>``.
    """
    found = proposed_text(text, start, end, answer, language, indent_unit, special_tokens=special_tokens,
                          prompt_opened_think=prompt_opened_think)
    if found.new_text is None:
        return found
    reason = check_edit(text, found.start, end, found.new_text, lang_ts, kind=kind)
    if reason is not None:
        logger.debug("refused %s edit: %s", kind, reason)
        return ReplacementResult(found.start, end, None, reason, found.reasoning)
    return found


def proposed_text(
    text: str,
    start: int,
    end: int,
    answer: str,
    language: str | None,
    indent_unit: str,
    *,
    special_tokens: Iterable[str] = (),
    prompt_opened_think: bool = False,
) -> ReplacementResult:
    """The code the answer proposes for ``text[start:end]``, fitted to the document's
    indentation but not yet checked (``check_edit``), or why there is none."""
    start, indent, mid_line = _line_start(text, start)
    reasoning, reply = split_reasoning(answer, prompt_opened_think=prompt_opened_think)
    reply = strip_special_tokens(reply, special_tokens)

    def refuse(reason: str) -> ReplacementResult:
        return ReplacementResult(start, end, None, reason, reasoning)

    if not reply.strip():
        return refuse("the model stopped while still reasoning" if reasoning else "the model's answer is empty")
    code = extract_code_block(reply, language)
    if code is None:
        code = bare_code(reply)
    if code is None or not code.strip():
        return refuse("the model's answer contains no code block")
    new_text = _fit(code, indent, indent_unit, mid_line, text[start:end])
    if new_text == text[start:end]:
        return refuse("the model returned the code unchanged")
    return ReplacementResult(start, end, new_text, None, reasoning)


def _line_start(text: str, start: int) -> tuple[int, str, bool]:
    """(new start, indentation of the line, whether the range starts after code on its line)."""
    line_start = text.rfind("\n", 0, start) + 1
    line = text[line_start:]
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    if text[line_start:start].strip(" \t"):
        return start, indent, True
    return line_start, indent, False


def _fit(code: str, indent: str, indent_unit: str, mid_line: bool, old: str) -> str:
    fitted = reindent(code.strip("\n"), indent, indent_unit)
    if mid_line and fitted.startswith(indent):
        fitted = fitted[len(indent) :]
    if old.endswith("\n") and not fitted.endswith("\n"):
        fitted += "\n"
    return fitted


def apply_replacement(text: str, result: ReplacementResult) -> str:
    """``text`` with the replacement applied (unchanged for a refusal)."""
    if result.new_text is None:
        return text
    return text[: result.start] + result.new_text + text[result.end :]


def check_edit(
    text: str, start: int, end: int, new_text: str, lang_ts: tree_sitter.Language, *, kind: ActionKind
) -> str | None:
    """Why replacing ``text[start:end]`` by ``new_text`` is refused, or None when it is fine."""
    parser = tree_sitter.Parser(lang_ts)
    new_doc = text[:start] + new_text + text[end:]
    old_tree, new_tree = parser.parse(encode(text)), parser.parse(encode(new_doc))
    region = (start, start + len(new_text))
    in_region = [n for n in syntax_errors(new_tree, *region, new_doc) if _starts_within(n, new_doc, region)]
    if kind is ActionKind.FIX and in_region:
        return f"the model's fix still has a syntax error at line {in_region[0].start_point.row + 1}"
    if count_errors(new_tree.root_node) > count_errors(old_tree.root_node):
        first = in_region or list(syntax_errors(new_tree, 0, len(new_doc), new_doc))
        line = first[0].start_point.row + 1 if first else 1
        return f"the model's edit introduces a syntax error at line {line}"
    if kind is ActionKind.DOCUMENT and _code_tokens(old_tree, text, start, end) != _code_tokens(
        new_tree, new_doc, *region
    ):
        return "the model changed the code instead of only documenting it"
    return None


def _starts_within(node: tree_sitter.Node, doc: str, region: tuple[int, int]) -> bool:
    lo, hi = byte_offset(doc, region[0]), byte_offset(doc, region[1])
    return lo <= node.start_byte <= hi


def _code_tokens(tree: tree_sitter.Tree, text: str, start: int, end: int) -> list[bytes]:
    """Leaf tokens inside ``[start, end)`` other than comments and docstrings."""
    lo, hi = byte_offset(text, start), byte_offset(text, end)
    tokens: list[bytes] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.end_byte <= lo or node.start_byte >= hi or _is_documentation(node):
            continue
        if node.child_count == 0:
            tokens.append(node.text or b"")
        stack.extend(reversed(node.children))
    return tokens


def _is_documentation(node: tree_sitter.Node) -> bool:
    if "comment" in node.type:
        return True
    return node.type == "expression_statement" and _is_docstring(node)


def _is_docstring(node: tree_sitter.Node) -> bool:
    """A Python string statement first in a module, class or function body."""
    if node.named_child_count != 1 or node.named_children[0].type != "string":
        return False
    parent = node.parent
    return parent is not None and parent.type in ("block", "module") and parent.named_children[0] == node


def unified_diff(path: str, old_text: str, new_text: str) -> str:
    """A git-style unified diff of one file (``""`` when nothing changed)."""
    lines = difflib.unified_diff(_diff_lines(old_text), _diff_lines(new_text), fromfile=f"a/{path}", tofile=f"b/{path}")
    return "".join(lines)


def _diff_lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines
