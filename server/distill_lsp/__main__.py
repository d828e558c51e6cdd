"""`python -m distill_lsp` is the `distill-lsp` command."""

from .cli import main

raise SystemExit(main())
