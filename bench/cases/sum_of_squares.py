def sum_of_squares(values: list[int]) -> int:
    <CURSOR>
