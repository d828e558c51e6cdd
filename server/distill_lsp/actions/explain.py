"""The Markdown shown for "Explain this": title, answer, and optionally the reasoning.

Reasoning models think before answering; ``include_reasoning`` decides whether that
text is shown collapsed in a ``<details>`` section, in full, or not at all.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

REASONING_MODES = ("collapsed", "full", "none")
NO_ANSWER = "_The model stopped before giving an answer._"


def format_explanation(reasoning: str, answer: str, *, include_reasoning: str, title: str = "Explanation") -> str:
    """Markdown for an explanation: ``## title``, the answer, then the reasoning section.

    ``include_reasoning`` is ``"collapsed"`` (a ``<details>`` section at the end),
    ``"full"`` (a ``### Reasoning`` section at the end) or ``"none"``.
    """
    if include_reasoning not in REASONING_MODES:
        raise ValueError(f"include_reasoning must be one of {REASONING_MODES}, not {include_reasoning!r}")
    parts = [f"## {title}", answer.strip() or NO_ANSWER]
    reasoning = reasoning.strip()
    if reasoning and include_reasoning == "collapsed":
        body = reasoning.replace("</details>", "&lt;/details&gt;")
        parts.append(f"<details><summary>Reasoning</summary>\n\n{body}\n\n</details>")
    elif reasoning and include_reasoning == "full":
        parts.append(f"### Reasoning\n\n{reasoning}")
    return "\n\n".join(parts) + "\n"
