entry_point = "gcd"
REFERENCE_ANSWER = 'Return the greatest common divisor of a and b.'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'Return a.'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(12, 18) == 6
    doc = (candidate.__doc__ or "").lower()
    assert "divisor" in doc or "gcd" in doc
