entry_point = "square"
REFERENCE_ANSWER = 'the square of x.'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'x.'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(3) == 9
    doc = (candidate.__doc__ or "").lower()
    assert any(w in doc for w in ("square", "x * x", "x**2", "x ** 2"))
