def area(width: float, height: float) -> float:
    """Return the area of a width by height rectangle."""
    result = <CURSOR>
    return result
