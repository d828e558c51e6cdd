entry_point = "median"
REFERENCE_ANSWER = 'Return the median of the values.'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'Return the values sorted.'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate([3, 1, 2]) == 2 and candidate([4, 1, 3, 2]) == 2.5
    doc = (candidate.__doc__ or "").lower()
    assert "median" in doc or "middle" in doc
