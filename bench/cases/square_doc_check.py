entry_point = "square"


def check(candidate):
    assert candidate(3) == 9
