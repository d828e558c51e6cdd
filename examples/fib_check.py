# HumanEval-style check for examples/fib.py (fibonacci): `distill-lsp sweep ... --check`
entry_point = "fibonacci"


def check(candidate):
    assert candidate(0) == 0
    assert candidate(1) == 1
    assert candidate(2) == 1
    assert candidate(10) == 55
    assert candidate(20) == 6765
