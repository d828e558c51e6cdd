"""The Markdown shown for "Explain this"."""

from __future__ import annotations

import pytest

from distill_lsp.actions.explain import NO_ANSWER, format_explanation


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "collapsed",
            "## Explanation\n\nIt adds numbers.\n\n"
            "<details><summary>Reasoning</summary>\n\nLook at the plus.\n\n</details>\n",
        ),
        ("full", "## Explanation\n\nIt adds numbers.\n\n### Reasoning\n\nLook at the plus.\n"),
        ("none", "## Explanation\n\nIt adds numbers.\n"),
    ],
)
def test_reasoning_modes(mode: str, expected: str) -> None:
    assert format_explanation(" Look at the plus.\n", "It adds numbers.\n", include_reasoning=mode) == expected


def test_reasoning_section_is_last_and_answer_untouched() -> None:
    answer = "Summary.\n\n```python\nx = 1\n```"
    text = format_explanation("why", answer, include_reasoning="collapsed")
    assert answer in text
    assert text.index(answer) < text.index("<details>")


def test_no_reasoning_no_section() -> None:
    assert "Reasoning" not in format_explanation("", "Answer.", include_reasoning="collapsed")


def test_empty_answer_says_so_and_keeps_reasoning() -> None:
    text = format_explanation("half a thought", "", include_reasoning="collapsed")
    assert NO_ANSWER in text and "half a thought" in text


def test_reasoning_cannot_close_the_details_early() -> None:
    text = format_explanation("a </details> b", "Answer.", include_reasoning="collapsed")
    assert text.count("</details>") == 1


def test_custom_title() -> None:
    assert format_explanation("", "A.", include_reasoning="none", title="Explain `area`").startswith(
        "## Explain `area`\n"
    )


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="include_reasoning"):
        format_explanation("", "A.", include_reasoning="hidden")
