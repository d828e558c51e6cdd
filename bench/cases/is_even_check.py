entry_point = "is_even"


def check(candidate):
    assert candidate(4) is True
    assert candidate(7) is False
