entry_point = "is_even"
REFERENCE_ANSWER = '0'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = '1'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(4) is True
    assert candidate(7) is False
