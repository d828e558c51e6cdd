entry_point = "add"
REFERENCE_ANSWER = 'a + b'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'a - b'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0
