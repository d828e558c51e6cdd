def factorial(n: int) -> int:
    """Return n! for n >= 0."""
    <CURSOR>
