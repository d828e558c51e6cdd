def gcd(a: int, b: int) -> int:
    """
    <CURSOR>
    """
    while b:
        a, b = b, a % b
    return a
