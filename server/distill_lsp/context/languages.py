"""Language detection and what we know of each language's syntax tree.

A `LanguageSpec` names the tree-sitter node types that matter for context building and
rules: definitions, scopes, imports, comments and strings. Grammars load lazily, once.
"""

from __future__ import annotations

import logging
import posixpath
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module

from tree_sitter import Language, Parser

logger = logging.getLogger(__name__)

_grammar_lock = threading.Lock()
_grammars: dict[str, Language] = {}


@dataclass(frozen=True)
class LanguageSpec:
    """One language: its grammar and the node types the context builder looks for."""

    name: str
    module: str
    """Python module of the grammar (``tree_sitter_python``)."""
    entry: str
    """Function of `module` returning the grammar pointer (``language``)."""
    line_comment: str
    extensions: tuple[str, ...]
    definitions: frozenset[str]
    scopes: frozenset[str]
    imports: frozenset[str]
    comments: frozenset[str]
    strings: frozenset[str]
    family: str = ""
    """Languages of one family share context (TypeScript sees JavaScript files)."""
    block_opener: str = "{"
    aliases: tuple[str, ...] = field(default=())

    @property
    def language(self) -> Language:
        """The tree-sitter grammar, loaded on first use."""
        with _grammar_lock:
            grammar = _grammars.get(self.name)
            if grammar is None:
                entry: Callable[[], object] = getattr(import_module(self.module), self.entry)
                grammar = Language(entry())
                _grammars[self.name] = grammar
                logger.debug("loaded tree-sitter grammar %s", self.name)
            return grammar

    def parser(self) -> Parser:
        """A new parser for this language (parsers are not shared between threads)."""
        return Parser(self.language)

    def comment(self, text: str) -> str:
        """`text` as a one-line comment of this language."""
        return f"{self.line_comment} {text}"

    def same_family(self, other: LanguageSpec) -> bool:
        return (self.family or self.name) == (other.family or other.name)


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


_JS_DEFS = _fs("function_declaration", "generator_function_declaration", "class_declaration",
               "method_definition", "variable_declarator")
_JS_SCOPES = _fs("function_declaration", "generator_function_declaration", "class_declaration",
                 "method_definition", "arrow_function", "function_expression")
_TS_DEFS = _JS_DEFS | _fs("interface_declaration", "type_alias_declaration", "enum_declaration",
                          "abstract_class_declaration", "function_signature")
_TS_SCOPES = _JS_SCOPES | _fs("interface_declaration", "abstract_class_declaration",
                              "enum_declaration", "internal_module")
_JS_STRINGS = _fs("string", "template_string", "regex")
_C_DEFS = _fs("function_definition", "struct_specifier", "enum_specifier", "union_specifier",
              "type_definition", "preproc_function_def", "preproc_def")
_C_SCOPES = _fs("function_definition", "struct_specifier", "enum_specifier", "union_specifier")

SPECS: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        name="python", module="tree_sitter_python", entry="language", line_comment="#",
        extensions=(".py", ".pyi", ".pyw"),
        definitions=_fs("function_definition", "class_definition"),
        scopes=_fs("function_definition", "class_definition"),
        imports=_fs("import_statement", "import_from_statement", "future_import_statement"),
        comments=_fs("comment"), strings=_fs("string", "concatenated_string"),
        block_opener=":", aliases=("python3", "py"),
    ),
    LanguageSpec(
        name="javascript", module="tree_sitter_javascript", entry="language", line_comment="//",
        extensions=(".js", ".mjs", ".cjs", ".jsx"), definitions=_JS_DEFS, scopes=_JS_SCOPES,
        imports=_fs("import_statement"), comments=_fs("comment"), strings=_JS_STRINGS,
        family="js", aliases=("javascriptreact", "js", "jsx"),
    ),
    LanguageSpec(
        name="typescript", module="tree_sitter_typescript", entry="language_typescript",
        line_comment="//", extensions=(".ts", ".mts", ".cts"), definitions=_TS_DEFS,
        scopes=_TS_SCOPES, imports=_fs("import_statement"), comments=_fs("comment"),
        strings=_JS_STRINGS, family="js", aliases=("ts",),
    ),
    LanguageSpec(
        name="tsx", module="tree_sitter_typescript", entry="language_tsx", line_comment="//",
        extensions=(".tsx",), definitions=_TS_DEFS, scopes=_TS_SCOPES,
        imports=_fs("import_statement"), comments=_fs("comment"), strings=_JS_STRINGS,
        family="js", aliases=("typescriptreact",),
    ),
    LanguageSpec(
        name="go", module="tree_sitter_go", entry="language", line_comment="//",
        extensions=(".go",),
        definitions=_fs("function_declaration", "method_declaration", "type_spec", "const_spec"),
        scopes=_fs("function_declaration", "method_declaration", "func_literal", "type_declaration"),
        imports=_fs("package_clause", "import_declaration"), comments=_fs("comment"),
        strings=_fs("interpreted_string_literal", "raw_string_literal", "rune_literal"),
        aliases=("golang",),
    ),
    LanguageSpec(
        name="rust", module="tree_sitter_rust", entry="language", line_comment="//",
        extensions=(".rs",),
        definitions=_fs("function_item", "function_signature_item", "struct_item", "enum_item",
                        "trait_item", "type_item", "const_item", "static_item", "mod_item",
                        "macro_definition", "union_item"),
        scopes=_fs("function_item", "impl_item", "trait_item", "mod_item", "struct_item",
                   "enum_item", "closure_expression"),
        imports=_fs("use_declaration", "extern_crate_declaration"),
        comments=_fs("line_comment", "block_comment"),
        strings=_fs("string_literal", "raw_string_literal", "char_literal"), aliases=("rs",),
    ),
    LanguageSpec(
        name="java", module="tree_sitter_java", entry="language", line_comment="//",
        extensions=(".java",),
        definitions=_fs("class_declaration", "interface_declaration", "enum_declaration",
                        "record_declaration", "method_declaration", "constructor_declaration"),
        scopes=_fs("class_declaration", "interface_declaration", "enum_declaration",
                   "record_declaration", "method_declaration", "constructor_declaration"),
        imports=_fs("package_declaration", "import_declaration"),
        comments=_fs("line_comment", "block_comment"),
        strings=_fs("string_literal", "character_literal"),
    ),
    LanguageSpec(
        name="c", module="tree_sitter_c", entry="language", line_comment="//",
        extensions=(".c", ".h"), definitions=_C_DEFS, scopes=_C_SCOPES,
        imports=_fs("preproc_include"), comments=_fs("comment"),
        strings=_fs("string_literal", "char_literal", "system_lib_string"), family="c",
    ),
    LanguageSpec(
        name="cpp", module="tree_sitter_cpp", entry="language", line_comment="//",
        extensions=(".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp"),
        definitions=_C_DEFS | _fs("class_specifier", "namespace_definition", "alias_declaration"),
        scopes=_C_SCOPES | _fs("class_specifier", "namespace_definition", "lambda_expression"),
        imports=_fs("preproc_include", "using_declaration"), comments=_fs("comment"),
        strings=_fs("string_literal", "char_literal", "raw_string_literal", "system_lib_string"),
        family="c", aliases=("c++", "cuda-cpp", "objective-cpp"),
    ),
)

_BY_ID = {alias: spec for spec in SPECS for alias in (spec.name, *spec.aliases)}
_BY_EXT = {ext: spec for spec in SPECS for ext in spec.extensions}


def _extension(path: str) -> str:
    return posixpath.splitext(path.replace("\\", "/"))[1].lower()


def detect_language(language_id: str | None, path: str | None) -> LanguageSpec | None:
    """The language of a document: its LSP languageId first, then its file extension.

    `path` is a file path (a URI's extension reads the same). Unknown languages give None.
    """
    if language_id:
        spec = _BY_ID.get(language_id.strip().lower())
        if spec is not None:
            return spec
    if path:
        return _BY_EXT.get(_extension(path))
    return None
