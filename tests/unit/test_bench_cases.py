"""The quality benchmark's real-code cases: slots in every language, the split into a tuning
and a held-out half, and where the sources come from (no model, no server, no network)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench import sources
from bench.cases import HALVES, KINDS, CaseError, cases_by_half, code_lines, generate_cases, half_of, slots
from bench.sources import SourceError, SourceFile

PY = '''"""Module docstring
spanning lines."""
import os


def walk(root):
    # collect the files
    found = []
    for name in os.listdir(root):
        if name.startswith("."):
            continue
        found.append(os.path.join(root,
                                  name))
    return found


class Box:
    def __init__(self, size):
        self.size = size
'''

JS = '''/**
 * Adds two numbers.
 * @returns {number}
 */
function add(a, b) {
  // plain sum
  return a + b;
}

export function clamp(value, lo, hi) {
  if (value < lo) {
    return lo;
  }
  return value > hi ? hi : value;
}
'''

TS = '''/* A counter
   with a limit. */
export interface Limit {
  max: number;
}

export class Counter {
  private count = 0;

  constructor(private readonly limit: Limit) {
    this.count = 0;
  }

  next(): number {
    const label = `count ${this.count}`;
    if (this.count < this.limit.max) {
      this.count += 1;
    }
    return this.count;
  }
}
'''

GO = '''// Package ring keeps the last values.
package ring

import "fmt"

const usage = `ring: keep
the last n values`

// Ring is a fixed-size buffer.
type Ring struct {
\tvalues []int
\tnext   int
}

func (r *Ring) Add(v int) {
\tr.values[r.next] = v
\tr.next = (r.next + 1) % len(r.values)
}

func (r *Ring) String() string {
\treturn fmt.Sprintf("ring(%d)", len(r.values))
}
'''

RUST = '''//! Tiny stack.

/// A stack of bytes.
pub struct Stack {
    items: Vec<u8>,
}

impl Stack {
    /* Push one byte
       on top. */
    pub fn push(&mut self, item: u8) {
        self.items.push(item);
    }

    pub fn pop(&mut self) -> Option<u8> {
        let note = "popping
 a byte";
        self.items.pop()
    }
}
'''

SOURCES = {"python": PY, "javascript": JS, "typescript": TS, "go": GO, "rust": RUST}


def _slot_text(text: str, kind: str, language: str) -> list[tuple[str, str]]:
    """(text before the cursor on its line, target) for each slot of `kind`, cursor at `lo`."""
    found = []
    for slot in slots(text, language)[kind]:
        line_start = text.rfind("\n", 0, slot.lo) + 1
        found.append((text[line_start:slot.lo], text[slot.lo:slot.end]))
    return found


def _blocks(text: str, language: str, max_lines: int) -> list[str]:
    return [text[s.lo:s.end] for s in slots(text, language, max_lines)["block"]]


def test_block_slots_run_to_the_dedent_within_the_cap() -> None:
    assert _blocks(PY, "python", 4) == [
        'if name.startswith("."):\n            continue\n        found.append(os.path.join(root,\n'
        '                                  name))',
        "continue", "def __init__(self, size):\n        self.size = size", "self.size = size"]
    # walk()'s and add()'s bodies start with a comment: not block cases
    assert _blocks(JS, "javascript", 4) == ["if (value < lo) {\n    return lo;\n  }\n  return value > hi ? hi : value;",
                                            "return lo;"]


def test_block_slots_never_end_inside_a_construct_continued_below() -> None:
    # a cap of 3 lines would end on `found.append(os.path.join(root,`: backs off one line
    assert _blocks(PY, "python", 3)[0] == 'if name.startswith("."):\n            continue'
    assert _blocks(JS, "javascript", 3)[0] == "if (value < lo) {\n    return lo;\n  }"
    # a cap of 1 on a body that opens a block at once: no case rather than a cut inside it
    assert _blocks(PY, "python", 1) == ["continue", "self.size = size"]


def test_block_targets_in_javascript_end_before_the_closing_brace() -> None:
    targets = [t for _, t in _slot_text(JS, "block", "javascript")]
    assert "return lo;" in targets
    assert all(not t.rstrip().endswith("}") or t.count("{") == t.count("}") for t in targets)
    assert all(not t.strip().startswith("}") for t in targets)


def test_line_start_slots_sit_after_indentation_and_need_a_word() -> None:
    found = _slot_text(JS, "line_start", "javascript")
    assert ("  ", "return a + b;") in found
    assert all(before.strip() == "" for before, _ in found)
    assert all(target.strip() != "}" for _, target in found)


def test_mid_line_slots_leave_typed_text_and_a_target() -> None:
    for slot in slots(PY, "python")["mid_line"]:
        line_start = PY.rfind("\n", 0, slot.lo) + 1
        typed = PY[line_start:slot.lo].lstrip()
        assert len(typed) >= 2
        assert len(PY[slot.hi:slot.end].rstrip()) >= 3
        assert "\n" not in PY[slot.lo:slot.end]


def _two_files() -> dict[str, list[SourceFile]]:
    return {"python": [SourceFile("python", Path("/src/walk.py"), PY, "walk.py")],
            "javascript": [SourceFile("javascript", Path("/src/add.js"), JS, "add.js")]}


def test_generate_cases_is_seeded_balanced_and_distinct() -> None:
    first = generate_cases(_two_files(), 12, seed=7)
    again = generate_cases(_two_files(), 12, seed=7)
    other = generate_cases(_two_files(), 12, seed=8)
    assert [(c.path, c.start, c.end) for c in first] == [(c.path, c.start, c.end) for c in again]
    assert [(c.path, c.start, c.end) for c in first] != [(c.path, c.start, c.end) for c in other]
    assert Counter((c.language, c.kind) for c in first) == {(lang, kind): 2 for lang in ("python", "javascript")
                                                           for kind in KINDS}
    assert len({(c.path, c.kind, c.start) for c in first}) == 12


def test_case_document_is_the_source_with_the_hole_cut() -> None:
    for case in cases_by_half(_files(), 30, seed=1):
        assert case.document[:case.start] + case.target + case.document[case.start:] == case.source
        assert case.target.strip() and not case.target.endswith("\n")
        assert case.document[case.start:].startswith("\n")  # the rest of the line went with the target
        assert case.target_lines == case.target.count("\n") + 1
        described = case.describe()
        assert described["target"] == case.target and "source" not in described
        assert case.source.split("\n")[case.line][:described["column"]] == case.prefix.rsplit("\n", 1)[-1]


def test_generate_cases_fails_when_material_runs_out() -> None:
    tiny = {"python": [SourceFile("python", Path("/t.py"), "x = 1\ny = 22\n", "t.py")]}
    with pytest.raises(CaseError):
        generate_cases(tiny, 30, seed=0)


def _code(text: str, language: str) -> list[str]:
    return [line.strip() for line, code in zip(text.split("\n"), code_lines(text, language)) if code]


@pytest.mark.parametrize(("language", "kept", "dropped"), [
    ("python", ["import os", "found = []", "name))"], ['"""Module docstring', 'spanning lines."""', "# collect the files"]),
    ("javascript", ["function add(a, b) {", "return a + b;"], ["/**", "* Adds two numbers.", "// plain sum"]),
    ("typescript", ["export interface Limit {", "const label = `count ${this.count}`;"], ["/* A counter",
                                                                                           "with a limit. */"]),
    ("go", ["package ring", "const usage = `ring: keep", "r.values[r.next] = v"],
     ["// Package ring keeps the last values.", "the last n values`", "// Ring is a fixed-size buffer."]),
    ("rust", ["pub struct Stack {", 'let note = "popping', "self.items.pop()"],
     ["//! Tiny stack.", "/// A stack of bytes.", "/* Push one byte", "on top. */", 'a byte";']),
])
def test_code_lines_skip_comments_and_strings_in_every_language(language: str, kept: list[str],
                                                                 dropped: list[str]) -> None:
    code = _code(SOURCES[language], language)
    assert all(line in code for line in kept), code
    assert not any(line in code for line in dropped), code


def _targets(language: str, kind: str, max_lines: int = 4) -> list[str]:
    text = SOURCES[language]
    return [text[s.lo:s.end] for s in slots(text, language, max_lines)[kind]]


def test_block_slots_follow_each_languages_opener() -> None:
    assert _targets("python", "block")[0].startswith('if name.startswith("."):')
    assert "return lo;" in _targets("javascript", "block")
    assert _targets("typescript", "block") == [
        "max: number;", "private count = 0;", "this.count = 0;",
        "const label = `count ${this.count}`;\n    if (this.count < this.limit.max) {\n      this.count += 1;\n    }",
        "this.count += 1;"]
    # a cap inside the constructor backs off (its closing brace is at the body's indentation); 5 lines reach it
    assert _targets("typescript", "block", 5)[1] == ("private count = 0;\n\n  constructor(private readonly limit: Limit) {"
                                                     "\n    this.count = 0;\n  }")
    assert _targets("go", "block") == ["values []int\n\tnext   int",
                                       "r.values[r.next] = v\n\tr.next = (r.next + 1) % len(r.values)",
                                       'return fmt.Sprintf("ring(%d)", len(r.values))']
    # push's body follows a block comment; pop's body starts with a string over two lines
    assert _targets("rust", "block") == ["items: Vec<u8>,", "self.items.push(item);"]


def test_line_start_and_mid_line_slots_in_the_new_languages() -> None:
    for language in ("typescript", "go", "rust"):
        text = SOURCES[language]
        found = slots(text, language)
        assert found["line_start"] and found["mid_line"], language
        for slot in found["line_start"]:
            assert text[text.rfind("\n", 0, slot.lo) + 1:slot.lo].strip() == ""
        for slot in found["mid_line"]:
            typed = text[text.rfind("\n", 0, slot.lo) + 1:slot.lo].lstrip()
            assert len(typed) >= 2 and "\n" not in text[slot.lo:slot.end]
    assert "func (r *Ring) Add(v int) {" in _targets("go", "line_start")
    assert "fn" not in " ".join(t for t in _targets("rust", "line_start") if t.startswith("//"))


def test_no_target_ends_inside_a_string_that_goes_on_below() -> None:
    text = 'import os\nx = 1\nhelp = """one\n\ntwo"""\ny = 2\n'
    rows = {slot.line for found in slots(text, "python").values() for slot in found}
    assert rows == {1, 5}  # not `help = """one`, though the line after it is blank


def test_a_language_without_a_grammar_is_a_case_error() -> None:
    with pytest.raises(CaseError):
        code_lines("x", "cobol")


def _files(copies: int = 6) -> dict[str, list[SourceFile]]:
    """Each inline source under several names, so both halves get some of every language."""
    ext = {"python": "py", "javascript": "js", "typescript": "ts", "go": "go", "rust": "rs"}
    return {lang: [SourceFile(lang, Path(f"/src/{lang}/f{i}.{ext[lang]}"), text, f"{lang}/f{i}.{ext[lang]}")
                   for i in range(copies)] for lang, text in SOURCES.items()}


def test_half_of_is_a_stable_hash_of_the_relative_path() -> None:
    one = SourceFile("go", Path("/usr/share/go-1.19/src/fmt/print.go"), "", "fmt/print.go")
    moved = SourceFile("go", Path("/elsewhere/fmt/print.go"), "other text", "fmt/print.go")
    assert half_of(one) == half_of(moved) == "heldout"  # pinned: a changed hash would reshuffle every set
    assert half_of(SourceFile("python", Path("/x/ast.py"), "", "ast.py")) == "tuning"
    halves = Counter(half_of(f) for found in _files(40).values() for f in found)
    assert set(halves) == set(HALVES) and min(halves.values()) > 50


def test_halves_share_no_file_and_split_the_count() -> None:
    cases = cases_by_half(_files(), 31, seed=3)
    tuning = [c for c in cases if c.half == "tuning"]
    heldout = [c for c in cases if c.half == "heldout"]
    assert (len(tuning), len(heldout)) == (16, 15)
    assert not {c.path for c in tuning} & {c.path for c in heldout}
    by_path = {f.path: f for found in _files().values() for f in found}
    assert all(half_of(by_path[Path(c.path)]) == c.half for c in cases)
    assert all(c.id.startswith(c.half[0]) for c in cases)


def test_the_split_is_deterministic_and_one_half_alone_gives_the_same_cases() -> None:
    both = cases_by_half(_files(), 30, seed=5)
    again = cases_by_half(_files(), 30, seed=5)
    assert [(c.id, c.start, c.end) for c in both] == [(c.id, c.start, c.end) for c in again]
    alone = cases_by_half(_files(), 15, seed=5, halves=("heldout",))
    assert [(c.id, c.start) for c in alone] == [(c.id, c.start) for c in both if c.half == "heldout"]
    other = cases_by_half(_files(), 30, seed=6)
    assert [(c.path, c.start) for c in other] != [(c.path, c.start) for c in both]


def test_every_language_meets_every_kind_in_turn() -> None:
    cases = generate_cases(_files(), 30, seed=1)
    assert Counter((c.language, c.kind) for c in cases) == {(lang, kind): 2 for lang in SOURCES for kind in KINDS}
    first = cases[:5]
    assert [c.language for c in first] == list(SOURCES)


def _fake_source(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setitem(sources._DEBIAN_ROOTS, "go", root)


def test_a_missing_debian_source_names_the_pinned_install_command(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_source(monkeypatch, tmp_path / "absent")
    with pytest.raises(SourceError) as caught:
        sources.sources_for("go")
    message = str(caught.value)
    assert "apt-get install -y --no-install-recommends golang-1.19-src=1.19.8-2" in message
    assert "python -m bench.sources --install go" in message
    with pytest.raises(SourceError, match="known: python, javascript, typescript, go, rust"):
        sources.sources_for("cobol")


def test_sources_skip_tests_vendored_generated_and_tiny_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = "package x\n\nfunc f() int {\n\treturn 1\n}\n" + "// padding\n" * 100
    files = {"b/real.go": body, "a/real.go": body, "a/real_test.go": body, "a/testdata/t.go": body,
             "vendor/v/v.go": body, "cmd/tool/main.go": body, "a/gen.go": "// Code generated by x. DO NOT EDIT.\n" + body,
             "a/small.go": "package x\n", "a/notes.txt": body}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    _fake_source(monkeypatch, tmp_path)
    found = sources.sources_for("go")
    assert [f.relative for f in found] == ["a/real.go", "b/real.go"]
    assert found[0].path == tmp_path / "a/real.go" and found[0].language == "go"


def test_every_source_is_pinned() -> None:
    assert set(sources.LANGUAGES) >= {"python", "javascript", "typescript", "go", "rust"}
    for source in sources.SOURCES.values():
        separator = {"npm": "@", "debian": "=", "python": ""}[source.registry]
        assert all(separator and separator in spec.lstrip("@") for spec in source.packages)
        assert bool(source.packages) == (source.registry != "python")


def test_project_folder_is_what_a_user_would_open() -> None:
    """`bench.quality --workspace` opens each case in its project: a crate of its own for
    Rust, Go's `src/`, the standard library for Python."""
    registry = sources.SOURCES["rust"].root
    crate_file = registry / "semver-1.0.14" / "src" / "parse.rs"
    assert sources.project_folder("rust", crate_file) == registry / "semver-1.0.14"
    go_file = sources.SOURCES["go"].root / "net" / "http" / "server.go"
    assert sources.project_folder("go", go_file) == sources.SOURCES["go"].root
    python_file = sources.SOURCES["python"].root / "textwrap.py"
    assert sources.project_folder("python", python_file) == sources.SOURCES["python"].root
