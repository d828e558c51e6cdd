entry_point = "factorial"
REFERENCE_ANSWER = 'result = 1\n    for k in range(2, n + 1):\n        result *= k\n    return result'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'return n'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(0) == 1
    assert candidate(5) == 120
