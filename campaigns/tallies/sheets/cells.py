"""A sheet's cells as the readers hand them on: text from CSV, any value from a workbook.

What a cell shows (`cell_text`), what counts as blank, and how a cell's text is quoted in a
message, for every step of reading a file: the header, the rows, the rejects file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

Cells = Sequence[object]

# Caches of parsed cell values are bounded so a file of all-distinct values cannot exhaust memory.
CACHE_LIMIT = 100_000


def show(text: str) -> str:
    """`text` quoted for an error message, cut short so a huge cell makes a short message."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def cell_text(value: object) -> str:
    """A spreadsheet cell's value as the text a user sees in it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def is_blank_cell(value: object) -> bool:
    return value is None or (type(value) is str and not value.strip())


def is_blank(cells: Cells) -> bool:
    return not any(cell is not None and (type(cell) is not str or cell.strip()) for cell in cells)


def column_letter(index: int) -> str:
    """The spreadsheet letter of the column at 0-based `index`: A, …, Z, AA, …"""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters
