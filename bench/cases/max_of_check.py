entry_point = "max_of"
REFERENCE_ANSWER = 'if v > best:\n            best = v'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'pass'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate([3, 9, 2]) == 9
    assert candidate([-5, -2]) == -2
