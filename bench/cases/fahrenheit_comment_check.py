entry_point = "celsius_to_fahrenheit"
REFERENCE_ANSWER = 'Celsius to Fahrenheit'
"""An answer that passes (tests/unit checks it does)."""
WRONG_ANSWER = 'the value'
"""A wrong answer the check must fail."""


def check(candidate):
    assert candidate(100) == 212
    comment = __document__.splitlines()[1].lower()
    assert "fahrenheit" in comment
