"""Explain / Fix / Document code actions: the model-free core.

This package owns everything between "the user asked about this code" and "here is
the markdown / the edit", except talking to the model and to the editor:

- ``prompts``: chat messages per action and their rendering to one prompt string;
- ``targets``: which range of the document an action works on (selection or the
  enclosing definition), found with tree-sitter;
- ``answer``: splitting R1-style ``<think>`` reasoning from the answer, picking the
  fenced code block, special-token clean-up, re-indentation;
- ``edits``: turning an answer into a checked replacement (syntax gate) and diffs;
- ``explain``: the markdown shown for "Explain this".

All functions are pure: no LSP types, no torch. Offsets are Python ``str`` indices;
converting to UTF-16 LSP positions happens at the protocol boundary.
"""
