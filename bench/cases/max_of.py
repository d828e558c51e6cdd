def max_of(values: list[int]) -> int:
    """Return the largest of the values."""
    best = values[0]
    for v in values:
        <CURSOR>
    return best
