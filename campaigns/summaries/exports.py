"""Tables turned into email attachments: .xlsx workbooks and Excel-friendly CSV.

Cells come from field staff and imported files, so every string is neutralised against
spreadsheet formula injection (OWASP "CSV injection") before it is written.

The workbook has the look of the fill-in 统计表 (`campaigns.tallies.templates`): each sheet
has the title merged across it and the as-of line (when given), a bold header with borders
around the table, columns as wide as their Chinese text, numbers right-aligned with
thousands separators, the header frozen, and it prints on A4 landscape fitted to one page
wide. A column whose cells are all numbers, or texts that are only a number or a percentage
("300", "-20", "104%", "+24.8%", as `render.table_rows` writes them), is written as numbers
(texts keep their precision and sign in the number format); columns of names (指标, 地点,
日期, …) stay text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from campaigns.tallies.templates import (
    BODY_FONT,
    BORDER,
    CENTRE,
    FILL,
    HEADER_FONT,
    LEFT,
    RIGHT,
    TITLE_FONT,
    WRAP_CENTRE,
    WRAP_LEFT,
    display_width,
    print_a4_landscape,
    safe_text,
    set_widths,
)

Cell = str | int | float | None

# OWASP's list: a spreadsheet may treat a cell starting with these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SHEET_TITLE_FORBIDDEN = frozenset("[]:*?/\\")
_SHEET_TITLE_MAX = 31
# Only a number: digits (thousands separated or not), a decimal part, a sign, a percent sign.
_NUMBER_TEXT = re.compile(r"([+-]?)((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?)(%?)")
# Headers of columns that name things: never turned into numbers, whatever they hold.
_NAME_HEADERS = frozenset(
    ("指标", "单位", "地点", "日期", "时间", "原因", "记录人", "备注", "名称")
).union(("metric", "unit", "venue", "day", "date", "when", "reason", "by", "note"))
_MAX_WIDTH = 48.0


def neutralise(cell: Cell) -> Cell:
    """Prefix "'" to a string a spreadsheet would read as a formula; other cells unchanged."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_PREFIXES):
        return "'" + cell
    return cell


def table_to_xlsx(
    sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Cell]]]],
    *,
    title: str | None = None,
    as_of: str | None = None,
) -> bytes:
    """A workbook with one styled sheet per (sheet title, headers, rows).

    `title` (the campaign's heading) is merged across the top of every sheet, followed by
    the as-of line when `as_of` is given (an ISO date-time as `figures["as_of"]`, or any
    text); without `title` the header is the first row. Control characters the xlsx format
    cannot hold are dropped from strings rather than letting one stray byte in a venue name
    fail the whole export.
    """
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    _check_sheet_titles([name for name, _, _ in sheets])
    for _, headers, rows in sheets:
        _check_rows(headers, rows)
    workbook = Workbook()
    default = workbook.active
    if default is not None:
        workbook.remove(default)
    heading = safe_text(title) if title else None
    as_of_line = _as_of_line(as_of) if title and as_of else None
    if heading is not None:
        workbook.properties.title = str(heading)
    workbook.properties.creator = "campaigns"
    for name, headers, rows in sheets:
        _write_sheet(workbook.create_sheet(name), headers, rows, heading, as_of_line)
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


def _write_sheet(
    sheet: Worksheet,
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    heading: Cell,
    as_of_line: Cell,
) -> None:
    ncols = max(1, len(headers))
    header_row = 1
    if heading is not None:
        _merged_line(sheet, 1, ncols, heading, TITLE_FONT, WRAP_CENTRE, height=32)
        header_row = 2
        if as_of_line is not None:
            _merged_line(sheet, 2, ncols, as_of_line, BODY_FONT, LEFT, height=20)
            header_row = 3
    numeric = [_is_number_column(h, [row[c] for row in rows]) for c, h in enumerate(headers)]
    widths = [float(display_width(str(_xlsx_value(h) or ""))) for h in headers] or [4.0]
    for col, header in enumerate(headers, start=1):
        head = sheet.cell(header_row, col, _xlsx_value(header))
        head.font, head.alignment, head.border, head.fill = HEADER_FONT, WRAP_CENTRE, BORDER, FILL
    sheet.row_dimensions[header_row].height = 22
    for offset, row in enumerate(rows, start=1):
        for col, value in enumerate(row, start=1):
            cell = sheet.cell(header_row + offset, col)
            cell.font, cell.border = BODY_FONT, BORDER
            number = _as_number(value) if numeric[col - 1] else None
            if number is not None:
                cell.value, cell.number_format = number[0], number[1]
                cell.alignment = RIGHT
                shown = number[2]
            else:
                cell.value = None if value == "" else _xlsx_value(value)
                cell.alignment = WRAP_LEFT if isinstance(value, str) else RIGHT
                if isinstance(value, int | float):
                    cell.number_format = "#,##0" if float(value).is_integer() else "#,##0.##"
                shown = "" if cell.value is None else str(cell.value)
            widths[col - 1] = max(widths[col - 1], float(display_width(shown)))
    if not rows:
        for col in range(1, ncols + 1):
            sheet.cell(header_row, col).alignment = CENTRE
    set_widths(
        sheet,
        {col: min(width + 3.0, _MAX_WIDTH) for col, width in enumerate(widths, start=1)},
        title=str(heading or ""),
    )
    last = header_row + len(rows)
    sheet.freeze_panes = f"A{header_row + 1}"
    print_a4_landscape(
        sheet,
        area=f"A1:{get_column_letter(ncols)}{last}",
        repeat_rows=f"{header_row}:{header_row}",
    )


def _merged_line(
    sheet: Worksheet, row: int, ncols: int, value: Cell, font: Font, align: Alignment, height: int
) -> None:
    cell = sheet.cell(row, 1, value)
    cell.font, cell.alignment = font, align
    if ncols > 1:
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=ncols)
    sheet.row_dimensions[row].height = height


def _as_of_line(as_of: str) -> Cell:
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError:
        return safe_text(f"数据截至{as_of}")
    shown = f"{moment.year}年{moment.month}月{moment.day}日"
    if len(as_of) > 10:
        shown += f" {moment:%H:%M}"
    return f"数据截至{shown}"


def _is_number_column(header: str, values: Sequence[Cell]) -> bool:
    if header.strip().lower() in _NAME_HEADERS:
        return False
    filled = [v for v in values if v is not None and v != ""]
    return all(
        isinstance(v, int | float) or (isinstance(v, str) and _NUMBER_TEXT.fullmatch(v.strip()))
        for v in filled
    )


def _as_number(value: Cell) -> tuple[int | float, str, str] | None:
    """(value, number format, what it shows) of a number or number-only text, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value, "#,##0", f"{value:,}"
    if isinstance(value, float):
        if value.is_integer():
            return value, "#,##0", f"{value:,.0f}"
        decimals = min(len(repr(value).partition(".")[2]), 6)
        return value, "#,##0." + "0" * decimals, f"{value:,.{decimals}f}"
    match = _NUMBER_TEXT.fullmatch(value.strip())
    if match is None:
        return None
    sign, digits, fraction, percent = match.groups()
    decimals = len(fraction or "")
    amount = Decimal(sign + digits.replace(",", ""))
    body = "0" if percent else "#,##0"
    if decimals:
        body += "." + "0" * decimals
    body += percent
    # An explicit "+" is part of what the table says (同比 +24.8%): keep it.
    number_format = f"+{body};-{body};{body}" if sign == "+" else body
    number: int | float
    if percent:
        number = float(amount / 100)
    elif decimals:
        number = float(amount)
    else:
        number = int(amount)
    return number, number_format, value.strip()


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
