def count_positive(values: list[int]) -> int:
    <CURSOR>
