entry_point = "mean"


def check(candidate):
    assert candidate([1.0, 2.0, 3.0]) == 2.0
