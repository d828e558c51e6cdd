"""What the model sees: language detection, incremental tree-sitter parsing, and the
context snippets (prefix, suffix, imports, enclosing headers, signatures, neighbouring files)
chosen within a token budget."""

from .builder import ContextShares, PromptContext, build_context
from .languages import LanguageSpec, detect_language
from .trees import IncrementalParser

__all__ = [
    "ContextShares",
    "LanguageSpec",
    "PromptContext",
    "IncrementalParser",
    "build_context",
    "detect_language",
]
