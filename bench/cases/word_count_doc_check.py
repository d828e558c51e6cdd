entry_point = "word_count"
REFERENCE_ANSWER = 'words in text.'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'characters in text.'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate("a b c") == 3
    doc = (candidate.__doc__ or "").lower()
    assert "word" in doc
