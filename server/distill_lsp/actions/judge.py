"""Judging one candidate edit of Fix or Document.

A Fix candidate is accepted when the edited code parses (tree-sitter, and Python's own
parser for Python, which also sees indentation), adds no syntax error anywhere, and
leaves behind the diagnostics it was asked to fix: a syntax error's nodes are gone, and a
name reported undefined (``undefined name 'x'``, ``'x' is not defined``, ``undefined: x``,
``Cannot find name 'x'``) is no longer used or is now bound. Of the edits an answer
proposes, the one that changes the least wins: the whole answer and each of its line
hunks alone (and pairs of them) are judged, smallest first, so a fix that also rewrote
three other lines is offered as the one line that fixes it.

A Document candidate must leave the code unchanged and parse; it is accepted when its
documentation names every parameter of the definition, and otherwise kept as the best
so far by the share it names.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import re
from dataclasses import dataclass

import tree_sitter

from ..context.positions import encode
from .answer import bare_code, extract_code_block, split_reasoning, strip_special_tokens
from .edits import ReplacementResult, check_edit
from .prompts import ActionKind
from .repair import leaves_no_new_error, region_clean
from .run import ActionInput

logger = logging.getLogger(__name__)

KEEP_SHARE = 0.5
"""A Fix keeps at least this share of the target's lines unchanged (targets of 3+ lines):
more is a rewrite, not a fix."""
MAX_HUNKS = 8
"""Answers with more hunks are judged whole and hunk by hunk, not in pairs."""

_UNDEFINED = (
    re.compile(r"undefined name ['\"`]?(\w+)"),
    re.compile(r"['\"`](\w+)['\"`] is not defined"),
    re.compile(r"\bname ['\"`](\w+)['\"`] is not defined"),
    re.compile(r"undefined: (\w+)"),
    re.compile(r"[Cc]annot find name ['\"`](\w+)"),
    re.compile(r"['\"`](\w+)['\"`] is undefined"),
)
_PARAMETER_NODES = frozenset({"parameters", "formal_parameters", "parameter_list", "lambda_parameters"})
_SKIPPED_PARAMETERS = frozenset({"self", "cls", "_"})


@dataclass(frozen=True)
class Verdict:
    replacement: ReplacementResult | None
    """The edit judged (for a refusal: None)."""
    accepted: bool
    note: str
    score: float = 0.0


def undefined_names(diagnostics: tuple[str, ...]) -> list[str]:
    """Names the diagnostics report as undefined."""
    names = []
    for message in diagnostics:
        for pattern in _UNDEFINED:
            if (match := pattern.search(message)) is not None:
                names.append(match.group(1))
                break
    return list(dict.fromkeys(names))


def still_undefined(name: str, code: str) -> bool:
    """True when ``code`` uses ``name`` without binding it (a heuristic over the text)."""
    word = re.escape(name)
    if not re.search(rf"(?<![\w.]){word}\b", code):
        return False
    bindings = (rf"(?<![\w.]){word}\s*(?::=|=(?!=)|\+=|-=)", rf"\b(?:def|class|func|function|let|const|var)\s+{word}\b",
                rf"\bimport\b[^\n]*\b{word}\b", rf"\bfor\s+(?:\w+\s*,\s*)*{word}\b", rf"\bas\s+{word}\b",
                rf"[(,]\s*{word}\s*(?:[,):=]|\s+\w)")
    return not any(re.search(pattern, code) for pattern in bindings)


def hunk_candidates(old: str, new: str) -> list[str]:
    """``new``, and ``old`` with each of ``new``'s line hunks applied alone and in pairs,
    smallest change first (``new`` itself last among equals)."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    if old_lines and new_lines and not new_lines[-1].endswith("\n") and old_lines[-1].endswith("\n"):
        new_lines[-1] += "\n"
    ops = [atom for op in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes()
           if op[0] != "equal" for atom in _atoms(op, old_lines, new_lines)]
    subsets: list[tuple[int, ...]] = [(i,) for i in range(len(ops))]
    if 1 < len(ops) <= MAX_HUNKS:
        subsets += list(itertools.combinations(range(len(ops)), 2))
    out: dict[str, int] = {}
    for subset in subsets if len(ops) > 1 else []:
        text, size = _apply(old_lines, new_lines, [ops[i] for i in subset])
        out.setdefault(text, size)
    out.setdefault(new, 1 << 30)
    return sorted(out, key=lambda text: out[text])


def _atoms(op: tuple[str, int, int, int, int], old: list[str],
           new: list[str]) -> list[tuple[str, int, int, int, int]]:
    """A replacement of n lines by m split into line-for-line replacements and the insertion
    (or deletion) of the |m - n| others, placed first or last, whichever pairs lines that
    look more alike: a docstring added above a changed line becomes two parts."""
    tag, i1, i2, j1, j2 = op
    n, m = i2 - i1, j2 - j1
    if tag != "replace":
        return [op]
    extra = abs(m - n)
    pairs = min(n, m)

    def layout(first: bool) -> list[tuple[str, int, int, int, int]]:
        oi, nj = (i1 + (n - pairs if first else 0)), (j1 + (m - pairs if first else 0))
        paired = [("replace", oi + k, oi + k + 1, nj + k, nj + k + 1) for k in range(pairs)
                  if old[oi + k] != new[nj + k]]
        if not extra:
            return paired
        rest = (("insert", i1, i1, j1, j1 + extra) if m > n else ("delete", i1, i1 + extra, j1, j1)) if first else (
            ("insert", i2, i2, j2 - extra, j2) if m > n else ("delete", i2 - extra, i2, j2, j2))
        return [rest, *paired] if first else [*paired, rest]

    def likeness(ops: list[tuple[str, int, int, int, int]]) -> float:
        return sum(difflib.SequenceMatcher(None, old[a], new[c]).ratio() for t, a, _b, c, _d in ops if t == "replace")

    return max(layout(True), layout(False), key=likeness) if extra else layout(True)


def _apply(old: list[str], new: list[str], ops: list[tuple[str, int, int, int, int]]) -> tuple[str, int]:
    pieces, at, size = [], 0, 0
    for _tag, i1, i2, j1, j2 in ops:
        pieces += old[at:i1] + new[j1:j2]
        size += sum(map(len, old[i1:i2])) + sum(map(len, new[j1:j2]))
        at = i2
    return "".join(pieces + old[at:]), size


def judge_fix(job: ActionInput, proposed: ReplacementResult) -> Verdict:
    """The smallest edit of the answer that fixes the target, or the first reason none does."""
    assert job.language is not None and proposed.new_text is not None
    start, end = proposed.start, proposed.end
    old = job.text[start:end]
    names = undefined_names(job.diagnostics)
    parser = tree_sitter.Parser(job.language.language)
    first_reason = None
    for candidate in hunk_candidates(old, proposed.new_text):
        reason = _fix_problem(job, start, end, candidate, names, parser)
        if reason is None:
            changed = "the whole answer" if candidate == proposed.new_text else "the smallest part of the answer"
            return Verdict(ReplacementResult(start, end, candidate, None, proposed.reasoning), True,
                           f"accepted ({changed} that fixes it)")
        if candidate == proposed.new_text or first_reason is None:
            first_reason = reason if candidate == proposed.new_text else first_reason or reason
    return Verdict(None, False, first_reason or "no candidate")


def _fix_problem(job: ActionInput, start: int, end: int, candidate: str, names: list[str],
                 parser: tree_sitter.Parser) -> str | None:
    assert job.language is not None
    if candidate == job.text[start:end]:
        return "the model returned the code unchanged"
    if kept_share(job.text[start:end], candidate) < KEEP_SHARE:
        return "the model rewrote the code instead of fixing it"
    reason = check_edit(job.text, start, end, candidate, job.language.language, kind=ActionKind.FIX)
    if reason is not None:
        return reason
    new_doc = job.text[:start] + candidate + job.text[end:]
    if not region_clean(new_doc, start, start + len(candidate), parser, job.language.name):
        return "the model's fix does not parse (Python's own parser)"
    if not leaves_no_new_error(job.text, start, end, new_doc, start + len(candidate), parser):
        return "the model's fix leaves a syntax error after the code it changed"
    for name in names:
        if still_undefined(name, candidate):
            return f"the model's fix still uses `{name}`, reported undefined"
    return None


def kept_share(old: str, new: str) -> float:
    """The share of ``old``'s non-blank lines that ``new`` keeps unchanged (1.0 for 1-2 lines)."""
    lines = [line for line in old.splitlines() if line.strip()]
    if len(lines) < 3:
        return 1.0
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    kept = sum(1 for block in matcher.get_matching_blocks()
               for line in old.splitlines()[block.a:block.a + block.size] if line.strip())
    return kept / len(lines)


def parameter_names(job: ActionInput) -> list[str]:
    """The parameters of the first definition in the target (``self``/``cls`` left out)."""
    assert job.language is not None
    tree = job.language.parser().parse(encode(job.text))
    lo, hi = len(encode(job.text[:job.start])), len(encode(job.text[:job.end]))
    node = tree.root_node.descendant_for_byte_range(lo, max(lo, hi - 1))
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop(0)
        if current.type in _PARAMETER_NODES and lo <= current.start_byte < hi:
            return _identifiers(current)
        stack.extend(current.children)
    return []


def _identifiers(parameters: tree_sitter.Node) -> list[str]:
    names: list[str] = []
    for child in parameters.named_children:
        several = child.children_by_field_name("name")  # Go: `a, b int`
        found = [child] if child.type == "identifier" else several if len(several) > 1 else [_first_identifier(child)]
        for node in found:
            name = node.text.decode("utf-8", "replace") if node is not None and node.text else ""
            if name and name not in _SKIPPED_PARAMETERS:
                names.append(name)
    return names


def _first_identifier(node: tree_sitter.Node) -> tree_sitter.Node | None:
    named = node.child_by_field_name("name") or node.child_by_field_name("pattern")
    if named is not None and named.type == "identifier":
        return named
    for child in node.named_children:
        if child.type == "identifier":
            return child
    return None


def documented_share(names: list[str], old: str, new: str) -> float:
    """The share of ``names`` that the lines ``new`` adds to ``old`` mention."""
    if not names:
        return 1.0
    added = "\n".join(line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line.startswith("+ "))
    return sum(bool(re.search(rf"\b{re.escape(n)}\b", added)) for n in names) / len(names)


def judge_document(job: ActionInput, proposed: ReplacementResult) -> Verdict:
    """Documentation that parses and leaves the code alone; accepted when it names every parameter.

    The answer's hunks are judged apart too, so documentation written above code the model
    also changed is kept without the changes."""
    assert job.language is not None and proposed.new_text is not None
    start, end = proposed.start, proposed.end
    old, names = job.text[start:end], parameter_names(job)
    best, first_reason = None, None
    for candidate in hunk_candidates(old, proposed.new_text):
        reason = check_edit(job.text, start, end, candidate, job.language.language, kind=ActionKind.DOCUMENT)
        if reason is not None or candidate == old:
            first_reason = first_reason or reason
            continue
        share = documented_share(names, old, candidate)
        if best is None or share > best[0]:
            best = (share, candidate)
    if best is None:
        return Verdict(None, False, first_reason or "the model's answer adds no documentation")
    share, candidate = best
    part = "" if candidate == proposed.new_text else " (the documentation of the answer, without its code changes)"
    edit = ReplacementResult(start, end, candidate, None, proposed.reasoning)
    if share >= 1.0:
        return Verdict(edit, True, f"accepted: parses, names every parameter{part}", share)
    missing = len(names) - round(share * len(names))
    return Verdict(edit, False, f"parses but leaves {missing} of {len(names)} parameters unnamed{part}", share)


def line_proposal(job: ActionInput, row: int, raw: str, special: tuple[str, ...], opened: bool) -> ReplacementResult:
    """The target with line ``row`` of ``job.code`` replaced by the answer's code (indented like it)."""
    assert job.language is not None
    start = job.text.rfind("\n", 0, job.start) + 1
    _reasoning, reply = split_reasoning(raw, prompt_opened_think=opened)
    reply = strip_special_tokens(reply, special)
    code = extract_code_block(reply, job.language.name)
    code = code if code is not None else bare_code(reply)
    lines = [line.rstrip() for line in (code or "").split("\n") if line.strip()][:1]  # the line asked for
    if not lines:
        return ReplacementResult(start, job.end, None, "the model's answer contains no code")
    old_lines = job.text[start:job.end].split("\n")
    offset = job.text.count("\n", start, job.start)  # (the target may start after its line's indentation)
    old = old_lines[row + offset]
    indent, base = old[:len(old) - len(old.lstrip())], min(len(ln) - len(ln.lstrip()) for ln in lines)
    new = [indent + line[base:] for line in lines]
    if new == [old]:
        return ReplacementResult(start, job.end, None, "the model returned the line unchanged")
    text = "\n".join(old_lines[:row + offset] + new + old_lines[row + offset + 1:])
    return ReplacementResult(start, job.end, text, None)


def narrowed(text: str, replacement: ReplacementResult) -> ReplacementResult:
    """The same edit, limited to the whole lines it changes."""
    new = replacement.new_text
    if new is None:
        return replacement
    old = text[replacement.start:replacement.end]
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    head = 0
    while head < min(len(old_lines), len(new_lines)) - 1 and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while (tail < min(len(old_lines), len(new_lines)) - head - 1
           and old_lines[-1 - tail] == new_lines[-1 - tail] and old_lines[-1 - tail].endswith("\n")):
        tail += 1
    cut_start = sum(map(len, old_lines[:head]))
    cut_old_end = len(old) - sum(map(len, old_lines[len(old_lines) - tail:]))
    cut_new_end = len(new) - sum(map(len, new_lines[len(new_lines) - tail:]))
    return ReplacementResult(replacement.start + cut_start, replacement.start + cut_old_end,
                             new[cut_start:cut_new_end], None, replacement.reasoning)
