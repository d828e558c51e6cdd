def absolute(x: int) -> int:
    """Return the absolute value of x."""
    if x < 0:
        <CURSOR>
    return x
