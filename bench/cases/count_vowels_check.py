entry_point = "count_vowels"
REFERENCE_ANSWER = 'c in "aeiou"'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'c'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate("hello") == 2
    assert candidate("rhythm") == 0
    assert candidate("aeiou") == 5
