"""The sheets of a workbook import file (.xlsx, .xls or .ods), read as values with calamine.

`python-calamine` (a Rust reader) is imported only when a workbook is read, so that reading
CSV never loads it; openpyxl is kept for writing workbooks only. A formula cell reads as the
value the spreadsheet saved with it: a workbook written by a program that never calculated
it (openpyxl) has none, and such a cell reads as empty. A merged cell holds its value in its
top-left cell; the others read as empty.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from campaigns.tallies.sheets.cells import Cells
from campaigns.tallies.sheets.import_errors import ImportFileError

if TYPE_CHECKING:
    from python_calamine import CalamineSheet

WORKBOOK_SUFFIXES = (".xlsx", ".xls", ".ods")


@dataclass
class Sheet:
    """One sheet's rows, numbered from 1 as the spreadsheet numbers them."""

    # None for a CSV file, which is one sheet without a name.
    name: str | None
    rows: Iterator[Cells]
    # How many columns lie left of the first cell of each row (A is 0): for column letters.
    first_column: int = 0
    # Sheets the workbook hides (lists for drop-downs, old copies) are not imported.
    hidden: bool = False


def workbook_sheets(path: Path) -> Generator[Sheet, None, None]:
    """The workbook's worksheets in workbook order, each read when it is reached."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    kind = path.suffix.lower()
    try:
        workbook = CalamineWorkbook.from_path(path)
    except OSError as error:
        raise ImportFileError(f"{path.name}: cannot read the file ({error.strerror})") from None
    except Exception as error:  # calamine raises its own kinds on a corrupt or foreign file
        raise ImportFileError(
            f"{path.name}: not a readable {kind} workbook ({type(error).__name__})"
        ) from None
    try:
        for metadata in workbook.sheets_metadata:
            if metadata.typ != SheetTypeEnum.WorkSheet:
                continue
            try:
                sheet = workbook.get_sheet_by_name(metadata.name)
                rows, first_column = _absolute_rows(sheet)
            except Exception as error:  # a damaged sheet part fails only when it is read
                raise ImportFileError(
                    f"{path.name} [{metadata.name}]: not a readable {kind} sheet"
                    f" ({type(error).__name__})"
                ) from None
            yield Sheet(
                metadata.name,
                rows,
                first_column=first_column,
                hidden=metadata.visible != SheetVisibleEnum.Visible,
            )
    finally:
        workbook.close()


def _absolute_rows(sheet: CalamineSheet) -> tuple[Iterator[Cells], int]:
    """The sheet's rows from row 1, and the column of their first cell.

    calamine's rows begin at the used area's first column; python-calamine 0.9 yields the
    empty rows above the used area as well, but whether it does is checked here rather than
    assumed: the first non-empty row must come out as the used area's first row.
    """
    start, end = sheet.start, sheet.end
    if start is None or end is None:
        return iter(()), 0
    first_row, first_column = start
    rows = sheet.iter_rows()
    leading: list[Cells] = []
    for cells in rows:
        if any(cell != "" for cell in cells):  # calamine's empty cell (a space is a value)
            break
        leading.append(cells)
    else:
        return iter(leading), first_column
    found = len(leading)  # 0-based index of the first non-empty row as yielded
    if found > first_row:  # never: calamine's used area starts at a non-empty row
        raise ValueError(f"rows start at {found}, the used area at {first_row}")
    width = len(cells)
    if width == end[1] + 1:  # rows from column A
        first_column = 0
    padding: list[Cells] = [[""] * width for _ in range(first_row - found)]
    return chain(leading, padding, [cells], rows), first_column
