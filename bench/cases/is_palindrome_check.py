entry_point = "is_palindrome"
REFERENCE_ANSWER = 'return s == s[::-1]'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'return True'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate("level") is True
    assert candidate("abca") is False
    assert candidate("") is True
