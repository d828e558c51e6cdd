def flatten(items: list[list[int]]) -> list[int]:
    """
    <CURSOR>
    """
    return [x for sub in items for x in sub]
