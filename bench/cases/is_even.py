def is_even(n: int) -> bool:
    """Return True when n is even."""
    return n % 2 == <CURSOR>
