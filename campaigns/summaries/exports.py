"""Tables turned into email attachments: .xlsx workbooks and Excel-friendly CSV.

Cells come from field staff and imported files, so every string is neutralised against
spreadsheet formula injection (OWASP "CSV injection") before it is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

Cell = str | int | float | None

# OWASP's list: a spreadsheet may treat a cell starting with these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SHEET_TITLE_FORBIDDEN = frozenset("[]:*?/\\")
_SHEET_TITLE_MAX = 31


def neutralise(cell: Cell) -> Cell:
    """Prefix "'" to a string a spreadsheet would read as a formula; other cells unchanged."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_PREFIXES):
        return "'" + cell
    return cell


def table_to_xlsx(sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Cell]]]]) -> bytes:
    """A workbook with one sheet per (title, headers, rows); headers in bold.

    Control characters the xlsx format cannot hold are dropped from strings rather than
    letting one stray byte in a venue name fail the whole export.
    """
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    # All checks come first: a write-only sheet abandoned half-written leaves openpyxl
    # generators that fail noisily when garbage-collected.
    _check_sheet_titles([title for title, _, _ in sheets])
    for _, headers, rows in sheets:
        _check_rows(headers, rows)
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, headers, rows in sheets:
        sheet = workbook.create_sheet(title)
        header_cells = [WriteOnlyCell(sheet, value=_xlsx_value(header)) for header in headers]
        for cell in header_cells:
            cell.font = bold
        sheet.append(header_cells)
        for row in rows:
            sheet.append([_xlsx_value(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def table_to_csv(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """CSV in UTF-8 with a byte-order mark, which Excel needs to read Chinese correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    _check_rows(headers, rows)
    writer.writerow([neutralise(header) for header in headers])
    for row in rows:
        writer.writerow(["" if value is None else neutralise(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx_value(cell: Cell) -> Cell:
    # Strip before neutralising: "\x01=cmd" must not become a bare "=cmd".
    if isinstance(cell, str):
        cell = ILLEGAL_CHARACTERS_RE.sub("", cell)
    return neutralise(cell)


def _check_rows(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    for number, row in enumerate(rows, start=1):
        if len(row) != len(headers):
            raise ValueError(f"row {number} has {len(row)} cells for {len(headers)} headers")


def _check_sheet_titles(titles: Sequence[str]) -> None:
    seen: set[str] = set()
    for title in titles:
        if not 0 < len(title) <= _SHEET_TITLE_MAX:
            raise ValueError(f"sheet title must be 1 to {_SHEET_TITLE_MAX} characters")
        if _SHEET_TITLE_FORBIDDEN & set(title):
            raise ValueError("sheet title must not contain any of [ ] : * ? / \\")
        # Excel compares sheet names without regard to case.
        if title.casefold() in seen:
            raise ValueError("sheet titles must be unique")
        seen.add(title.casefold())
