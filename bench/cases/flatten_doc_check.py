entry_point = "flatten"
REFERENCE_ANSWER = 'Flatten a list of lists into one list.'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'Return the items.'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate([[1, 2], [3]]) == [1, 2, 3]
    doc = (candidate.__doc__ or "").lower()
    assert any(w in doc for w in ("flat", "single list", "one list", "concatenat"))
