"""Broken snippets of real code for `bench.actions`, and the checks that say a fix worked.

Functions are cut, seeded, from the pinned sources of `bench.sources` (the Python standard
library, lodash-es, Go's standard library), each becoming a small document of its own.
One error is put into each, of one kind:

| kind | single token | how |
| --- | --- | --- |
| missing_colon | yes | Python: the `:` ending a compound statement's header is dropped |
| missing_paren | yes | a `)` ending a line is dropped |
| missing_bracket | yes | a `]` ending a line (or before its last `)`/`;`/`,`) is dropped |
| missing_brace | yes | JS / Go: a line holding only the `}` of an inner block is dropped |
| wrong_operator | yes | `==` becomes `=` in a condition (Python and Go: a syntax error) |
| wrong_indent | no | Python: a body line gets two more spaces (`unexpected indent`) |
| undefined_name | no | one use of a local variable loses a letter; the diagnostic names it |

A fix is right when the document parses (tree-sitter, and Python's `ast`), the name reported
undefined is gone, and the program is the original one again: the same Python AST, or the
same tree-sitter leaf tokens (comments aside) in JavaScript and Go.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass, field

from distill_lsp.context.languages import detect_language
from distill_lsp.context.positions import encode

from bench.sources import sources_for

LANGUAGES = ("python", "javascript", "go")
KINDS = ("missing_colon", "missing_paren", "missing_bracket", "missing_brace", "wrong_operator", "wrong_indent",
         "undefined_name")
SINGLE_TOKEN = frozenset({"missing_colon", "missing_paren", "missing_bracket", "missing_brace", "wrong_operator"})
_KINDS_BY_LANGUAGE = {
    "python": ("missing_colon", "missing_paren", "missing_bracket", "wrong_operator", "wrong_indent", "undefined_name"),
    "javascript": ("missing_paren", "missing_bracket", "missing_brace", "undefined_name"),
    "go": ("missing_paren", "missing_brace", "wrong_operator", "undefined_name"),
}
_DEFINITIONS = {"python": "function_definition", "javascript": "function_declaration", "go": "function_declaration"}
_HEADERS = {"go": "package p\n\n"}
MIN_LINES, MAX_LINES = 5, 12
PER_FILE = 3


@dataclass(frozen=True)
class Case:
    """One broken document: ``text``, the target ``[start, end)``, the diagnostics an editor sends."""

    id: str
    language: str
    kind: str
    text: str
    start: int
    end: int
    original: str
    diagnostics: tuple[str, ...] = ()
    name: str = ""
    """The undefined name (undefined_name cases)."""
    source: str = ""
    params: tuple[str, ...] = field(default=())


def _functions(language: str, rng: random.Random, wanted: int) -> list[tuple[str, str]]:
    """(source path, function text) of top-level functions of a useful size that parse alone."""
    spec = detect_language(language, None)
    assert spec is not None
    files = sources_for(language)
    rng.shuffle(files)
    found: list[tuple[str, str]] = []
    for source in files:
        tree = spec.parser().parse(encode(source.text))
        taken = 0
        for node in tree.root_node.children:
            if node.type != _DEFINITIONS[language] or not node.text:
                continue
            text = node.text.decode("utf-8", "replace")
            lines = text.count("\n") + 1
            if MIN_LINES <= lines <= MAX_LINES and "\t" not in text.replace("\n\t", "\n ") and _parses(language, text):
                found.append((source.relative, text))
                taken += 1
                if taken == PER_FILE:  # many files, not many functions of one
                    break
        if len(found) >= wanted:
            break
    return found


def _parses(language: str, code: str) -> bool:
    spec = detect_language(language, None)
    assert spec is not None
    doc = _HEADERS.get(language, "") + code + "\n"
    if spec.parser().parse(encode(doc)).root_node.has_error:
        return False
    if language == "python":
        try:
            ast.parse(doc)
        except SyntaxError:
            return False
    return True


def _line_edit(code: str, rng: random.Random, test, change) -> str | None:  # type: ignore[no-untyped-def]
    lines = code.split("\n")
    rows = [i for i, line in enumerate(lines) if i > 0 and test(line)]
    rng.shuffle(rows)
    for row in rows:
        new = change(lines[row])
        if new is not None:
            return "\n".join(lines[:row] + ([new] if new != "\0" else []) + lines[row + 1:])
    return None


def _drop_last(token: str):  # type: ignore[no-untyped-def]
    def change(line: str) -> str | None:
        body = line.rstrip()
        for tail in ("", ";", ",", ")", "):", "),", ");"):
            if body.endswith(token + tail) and body.count(token) >= 1:
                cut = len(body) - len(tail) - len(token)
                return body[:cut] + body[cut + len(token):]
        return None
    return change


def mutate(language: str, kind: str, code: str, rng: random.Random) -> tuple[str, tuple[str, ...], str] | None:
    """(broken code, diagnostics, undefined name) or None when this code has no place for ``kind``."""
    if kind == "missing_colon":
        broken = _line_edit(code, rng, lambda ln: re.match(r"\s+(if|for|while|elif|else|try|except|with)\b.*:\s*$", ln),
                            lambda ln: ln.rstrip()[:-1])
    elif kind == "missing_paren":
        broken = _line_edit(code, rng, lambda ln: ln.rstrip().endswith((")", ");", "):", ") {")),
                            lambda ln: re.sub(r"\)(;|:| \{)?$", r"\1", ln.rstrip(), count=1))
    elif kind == "missing_bracket":
        broken = _line_edit(code, rng, lambda ln: "]" in ln and "[" in ln, _drop_last("]"))
    elif kind == "missing_brace":
        broken = _line_edit(code, rng, lambda ln: ln.strip() == "}" and ln.startswith((" ", "\t")), lambda ln: "\0")
    elif kind == "wrong_operator":
        broken = _line_edit(code, rng, lambda ln: re.match(r"\s+(if|while|elif)\b[^=]*[^=!<>]==[^=]", ln),
                            lambda ln: re.sub(r"(?<=[^=!<>])==(?=[^=])", "=", ln, count=1))
    elif kind == "wrong_indent":
        broken = _line_edit(code, rng, lambda ln: re.match(r"\s+(return|[a-z_]+ = )", ln) is not None,
                            lambda ln: "  " + ln)
    else:
        return _undefined(language, code, rng)
    return (broken, (), "") if broken is not None and not _parses(language, broken) else None


def _undefined(language: str, code: str, rng: random.Random) -> tuple[str, tuple[str, ...], str] | None:
    assign = {"python": r"^\s+(\w{3,}) = ", "javascript": r"^\s+(?:var|let|const) (\w{3,}) = ", "go": r"^\s+(\w{3,}) := "}
    names = sorted({m.group(1) for line in code.split("\n") if (m := re.match(assign[language], line))})
    rng.shuffle(names)
    for name in names:
        lines = code.split("\n")
        first = next(i for i, ln in enumerate(lines) if re.match(assign[language].replace(r"(\w{3,})", re.escape(name)), ln))
        uses = [i for i in range(first + 1, len(lines)) if re.search(rf"(?<![\w.]){name}\b(?!\s*(?::?=[^=]))", lines[i])]
        if not uses:
            continue
        typo = name[:-2] + name[-1]
        if re.search(rf"\b{typo}\b", code):
            continue
        row = rng.choice(uses)
        lines[row] = re.sub(rf"(?<![\w.]){name}\b", typo, lines[row], count=1)
        message = {"python": f"undefined name '{typo}'", "javascript": f"'{typo}' is not defined.",
                   "go": f"undefined: {typo}"}[language]
        return "\n".join(lines), (message,), typo
    return None


def diagnostics_for(language: str, broken_doc: str) -> tuple[str, ...]:
    """What an editor would send for a syntax error: Python's own message, a generic one elsewhere."""
    if language == "python":
        try:
            ast.parse(broken_doc)
        except SyntaxError as exc:
            return (f"{exc.msg}",)
    return ("syntax error",)


def fix_cases(per_language: int, seed: int = 0) -> list[Case]:
    """``per_language`` cases in each language, the kinds shared out evenly where the code allows."""
    cases: list[Case] = []
    for language in LANGUAGES:
        rng = random.Random(f"{seed}-{language}")
        kinds = _KINDS_BY_LANGUAGE[language]
        quota = -(-per_language // len(kinds))
        used = {kind: 0 for kind in kinds}
        functions = _functions(language, rng, per_language * 12)
        taken: set[int] = set()
        for balanced in (True, False):  # first each kind up to its share, then whatever applies
            for index, (source, code) in enumerate(functions):
                if len(taken) >= per_language:
                    break
                if index in taken:
                    continue
                for kind in sorted(kinds, key=lambda k: used[k]):
                    if balanced and used[kind] >= quota:
                        continue
                    mutated = mutate(language, kind, code, random.Random(f"{seed}-{language}-{index}-{kind}"))
                    if mutated is None:
                        continue
                    cases.append(_case(language, kind, len(taken), source, code, mutated))
                    taken.add(index)
                    used[kind] += 1
                    break
    return cases


def _case(language: str, kind: str, number: int, source: str, code: str,
          mutated: tuple[str, tuple[str, ...], str]) -> Case:
    broken, diagnostics, name = mutated
    header = _HEADERS.get(language, "")
    doc = header + broken + "\n"
    diagnostics = diagnostics or diagnostics_for(language, doc)
    return Case(f"{language}-{number:02d}-{kind}", language, kind, doc, len(header), len(header) + len(broken),
                header + code + "\n", diagnostics, name, source)


def document_cases(per_language: int, seed: int = 0) -> list[Case]:
    """Functions with parameters and no documentation yet, to document."""
    cases: list[Case] = []
    for language in LANGUAGES:
        rng = random.Random(f"{seed}-doc-{language}")
        made = 0
        for source, code in _functions(language, rng, per_language * 8):
            params = _params(language, code)
            if made >= per_language or not params or '"""' in code or "'''" in code:
                continue
            header = _HEADERS.get(language, "")
            doc = header + code + "\n"
            cases.append(Case(f"{language}-doc-{made:02d}", language, "document", doc, len(header),
                              len(header) + len(code), doc, source=source, params=params))
            made += 1
    return cases


def _params(language: str, code: str) -> tuple[str, ...]:
    from distill_lsp.actions.judge import parameter_names
    from distill_lsp.actions.prompts import ActionKind
    from distill_lsp.actions.run import ActionInput

    job = ActionInput(ActionKind.DOCUMENT, code, 0, len(code), detect_language(language, None))
    return tuple(parameter_names(job))


def leaves(language: str, text: str) -> list[bytes]:
    spec = detect_language(language, None)
    assert spec is not None
    out, stack = [], [spec.parser().parse(encode(text)).root_node]
    while stack:
        node = stack.pop()
        if "comment" in node.type:
            continue
        if node.child_count == 0:
            out.append(node.text or b"")
        stack.extend(reversed(node.children))
    return out


def fixed(case: Case, new_doc: str) -> bool:
    """The check: parses, the undefined name is gone, and the program is the original one."""
    if not _parses(case.language, new_doc[len(_HEADERS.get(case.language, "")):].rstrip("\n")):
        return False
    if case.name and re.search(rf"\b{case.name}\b", new_doc):
        return False
    if case.language == "python":
        return ast.dump(ast.parse(new_doc)) == ast.dump(ast.parse(case.original))
    return leaves(case.language, new_doc) == leaves(case.language, case.original)
