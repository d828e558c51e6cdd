"""Language detection and the node types each LanguageSpec names."""

from __future__ import annotations

import pytest
from distill_lsp.context.languages import SPECS, detect_language


@pytest.mark.parametrize(
    ("language_id", "path", "expected"),
    [
        ("python", None, "python"),
        ("Python", "x.rs", "python"),
        (None, "/src/app/main.py", "python"),
        ("typescriptreact", None, "tsx"),
        ("typescript", None, "typescript"),
        (None, "file:///home/me/proj/view.tsx", "tsx"),
        (None, "C:\\code\\lib.ts", "typescript"),
        ("javascriptreact", None, "javascript"),
        (None, "index.mjs", "javascript"),
        ("go", None, "go"),
        (None, "main.go", "go"),
        ("rust", None, "rust"),
        (None, "file:///a/b/lib.rs", "rust"),
        ("java", None, "java"),
        (None, "Main.java", "java"),
        ("c", None, "c"),
        (None, "x.h", "c"),
        ("cpp", None, "cpp"),
        (None, "x.hpp", "cpp"),
        ("plaintext", "notes.PY", "python"),
        ("plaintext", "notes.txt", None),
        (None, None, None),
        ("cobol", None, None),
        (None, "Makefile", None),
    ],
)
def test_detect_language(language_id: str | None, path: str | None, expected: str | None) -> None:
    spec = detect_language(language_id, path)
    assert (spec.name if spec else None) == expected


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_named_node_types_exist_in_grammar(spec) -> None:
    language = spec.language
    for group in (spec.definitions, spec.scopes, spec.imports, spec.comments, spec.strings):
        for node_type in group:
            assert language.id_for_node_kind(node_type, True), f"{spec.name}: {node_type}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_grammar_loaded_once_and_parses(spec) -> None:
    assert spec.language is spec.language
    tree = spec.parser().parse(b"x")
    assert tree.root_node is not None


def test_families() -> None:
    ts, js, py = (detect_language(n, None) for n in ("typescript", "javascript", "python"))
    assert ts.same_family(js) and not ts.same_family(py)
    assert detect_language("c", None).same_family(detect_language("cpp", None))
