entry_point = "last_char"
REFERENCE_ANSWER = '-1'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = '0'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate("hello") == "o"
    assert candidate("ab") == "b"
