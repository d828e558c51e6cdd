def word_count(text: str) -> int:
    """Return the number of <CURSOR>"""
    return len(text.split())
