def last_char(s: str) -> str:
    """Return the last character of s."""
    return s[<CURSOR>]
