entry_point = "absolute"
REFERENCE_ANSWER = 'return -x'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'return x'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(-3) == 3
    assert candidate(4) == 4
    assert candidate(0) == 0
