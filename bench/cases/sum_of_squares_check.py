entry_point = "sum_of_squares"
REFERENCE_ANSWER = 'return sum(v * v for v in values)'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'return sum(values)'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate([1, 2, 3]) == 14
    assert candidate([]) == 0
    assert candidate([-2]) == 4
