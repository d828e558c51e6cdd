entry_point = "clamp"
REFERENCE_ANSWER = 'min(x, hi)'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'x'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(5, 0, 10) == 5
    assert candidate(-3, 0, 10) == 0
    assert candidate(42, 0, 10) == 10
