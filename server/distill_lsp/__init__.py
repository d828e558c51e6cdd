"""distill-lsp: an AI coding assistant language server backed by a local model."""

__version__ = "0.1.0"
