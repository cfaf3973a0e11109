"""What can be wrong with an import file: the file as a whole, or a cell of a row.

`ImportFileError` stops the import; `RowError`s are collected, every bad cell of every row,
so that one pass over a file tells the field staff all there is to fix. `CellError` is how a
cell's parser says what is wrong, to become a `RowError` of its row.
"""

from __future__ import annotations

from dataclasses import dataclass


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class RowError:
    file: str
    row: int
    column: str
    reason: str
    # The sheet of a workbook; None for CSV.
    sheet: str | None = None

    @property
    def place(self) -> str:
        """ "FILE" or "FILE [sheet]"."""
        return self.file if self.sheet is None else f"{self.file} [{self.sheet}]"

    def __str__(self) -> str:
        # A row-wide problem (cells beyond the header) has no single column to name.
        where = f"row {self.row}, column {self.column}" if self.column else f"row {self.row}"
        return f"{self.place}: {where}: {self.reason}"


class CellError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
