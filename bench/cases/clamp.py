def clamp(x: int, lo: int, hi: int) -> int:
    """Return x limited to the range [lo, hi]."""
    return max(lo, <CURSOR>)
