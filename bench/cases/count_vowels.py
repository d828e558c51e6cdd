def count_vowels(s: str) -> int:
    """Return how many vowels (a, e, i, o, u) the lowercase string s has."""
    return sum(1 for c in s if <CURSOR>)
