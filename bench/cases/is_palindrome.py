def is_palindrome(s: str) -> bool:
    """Return True when s reads the same backwards."""
    <CURSOR>
