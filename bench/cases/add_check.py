entry_point = "add"


def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0
