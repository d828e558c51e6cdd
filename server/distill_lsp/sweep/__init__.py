"""`distill-lsp sweep`: sample a completion point many times per temperature (or per profile)
through the server's own pipeline, and measure how the answers change.

cases (what to complete) -> sampling (pipeline.run per seed) -> metrics (pure) -> report
(markdown, JSON, PNG).
"""
