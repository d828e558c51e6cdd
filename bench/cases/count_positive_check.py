entry_point = "count_positive"
REFERENCE_ANSWER = 'return sum(1 for v in values if v > 0)'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'return len(values)'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate([1, -2, 3, 0]) == 2
    assert candidate([-1]) == 0
