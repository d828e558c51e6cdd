entry_point = "mean"
REFERENCE_ANSWER = 'mean of the values'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'sum of the values'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate([1.0, 2.0, 3.0]) == 2.0
    comment = __document__.splitlines()[0].lower()
    assert "mean" in comment or "average" in comment
