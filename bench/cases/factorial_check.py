entry_point = "factorial"


def check(candidate):
    assert candidate(0) == 1
    assert candidate(5) == 120
