entry_point = "area"
REFERENCE_ANSWER = 'width * height'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'width + height'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(3, 4) == 12
    assert candidate(2.5, 2) == 5.0
