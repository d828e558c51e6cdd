"""How the answer of a Fix or Document try starts: code written for the model after the
opening fence, so that a small model continues the user's code instead of rewriting it.

- Fix: the target's lines before the first problem (the first syntax error tree-sitter
  or Python's parser reports, else the first line using a name reported undefined).
- Document: in Python, the definition's header and the docstring's opening quotes; in
  languages whose documentation comes above the definition, the comment's opening.
"""

from __future__ import annotations

import re

from ..context.positions import encode
from .judge import undefined_names
from .prompts import ActionKind
from .repair import python_error
from .run import ActionInput
from .targets import syntax_errors

_COMMENT_OPENERS = {"javascript": "/**\n * ", "typescript": "/**\n * ", "tsx": "/**\n * ", "java": "/**\n * ",
                    "c": "/**\n * ", "cpp": "/**\n * ", "rust": "/// ", "go": "// "}


def lead_for(job: ActionInput) -> str:
    """The answer's start for one try of ``job`` ("" when there is nothing sure to write)."""
    if job.language is None:
        return ""
    if job.kind is ActionKind.FIX:
        row = first_problem_row(job)
        return "" if row is None else "".join(job.code.splitlines(keepends=True)[:row])
    if job.kind is ActionKind.DOCUMENT:
        return _document_lead(job)
    return ""


def first_problem_row(job: ActionInput) -> int | None:
    """The 0-based row of ``job.code`` where its first problem is, when one is known."""
    assert job.language is not None
    rows = []
    tree = job.language.parser().parse(encode(job.text))
    first = next(iter(syntax_errors(tree, job.start, job.end, job.text)), None)
    base = job.text.count("\n", 0, job.start)
    if first is not None:
        rows.append(_first_row_of(first) - base)
    if job.language.name == "python" and (error := python_error(job.text)) is not None:
        rows.append(error[0] - 1 - base)
    for name in undefined_names(job.diagnostics):
        for row, line in enumerate(job.code.splitlines()):
            if re.search(rf"(?<![\w.]){re.escape(name)}\b", line):
                rows.append(row)
                break
    rows = [row for row in rows if 0 <= row < job.code.count("\n") + 1]
    return min(rows) if rows else None


def _first_row_of(node) -> int:  # type: ignore[no-untyped-def]
    """An ERROR node's first row that holds a leaf of the error (it may start at a good line)."""
    while node.child_count and (node.is_error or node.has_error):
        child = next((c for c in node.children if c.is_error or c.has_error or c.is_missing), None)
        if child is None:
            break
        node = child
    return int(node.start_point.row)


def _document_lead(job: ActionInput) -> str:
    assert job.language is not None
    name = job.language.name
    if name != "python":
        return _COMMENT_OPENERS.get(name, "")
    lines = job.code.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.rstrip().endswith(":") and re.match(r"\s*(?:async\s+)?(?:def|class)\b", _header_start(lines, index)):
            body = next((ln for ln in lines[index + 1:] if ln.strip()), "")
            indent = body[:len(body) - len(body.lstrip())] or _indent(line) + "    "
            if body.lstrip().startswith(('"""', "'''", 'r"""')):
                return ""  # already documented: let the model rewrite the docstring
            return "".join(lines[:index + 1]) + indent + '"""'
    return ""


def _header_start(lines: list[str], index: int) -> str:
    """The line where the statement ending on line ``index`` begins (a signature may wrap)."""
    for back in range(index, -1, -1):
        if re.match(r"\s*(?:@|async\s|def\s|class\s)", lines[back]):
            return lines[back]
    return lines[index]


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]
