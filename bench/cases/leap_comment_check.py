entry_point = "is_leap"
REFERENCE_ANSWER = 'year is a leap year'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'the year is valid'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(2000) and not candidate(1900)
    comment = __document__.splitlines()[0].lower()
    assert "leap" in comment
