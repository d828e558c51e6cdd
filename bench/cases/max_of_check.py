entry_point = "max_of"


def check(candidate):
    assert candidate([3, 9, 2]) == 9
    assert candidate([-5, -2]) == -2
