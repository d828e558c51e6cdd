def square(x: float) -> float:
    """Return <CURSOR>
    """
    return x * x
