"""What the model sees: language detection, a tree-sitter parse per open document, and the
context snippets (prefix, suffix, imports, enclosing headers, signatures, neighbouring files)
chosen within a token budget."""

from .builder import ContextShares, PromptContext, build_context
from .languages import LanguageSpec, detect_language
from .trees import TreeCache, UnknownDocument

__all__ = [
    "ContextShares",
    "LanguageSpec",
    "PromptContext",
    "TreeCache",
    "UnknownDocument",
    "build_context",
    "detect_language",
]
