def celsius_to_fahrenheit(c: float) -> float:
    # Convert <CURSOR>
    return c * 9 / 5 + 32
