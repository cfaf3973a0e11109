"""A list of reporting units read from a CSV or workbook file, one unit a row.

Columns are found by their header, in Chinese or English: `编码/code`, `名称/name`,
`上级/parent` and an optional `联系方式/contact`; a title line above the header is skipped, as
in the 统计表 the offices keep. Only the first visible sheet of a workbook is read. Nothing is
checked here but the layout: `campaigns.planning.units.import_units` checks the whole list.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from campaigns.errors import InvalidInputError
from campaigns.tallies.sheets.cells import Cells
from campaigns.tallies.sheets.csv_text import csv_text
from campaigns.tallies.sheets.import_errors import ImportFileError
from campaigns.tallies.sheets.workbooks import WORKBOOK_SUFFIXES, workbook_sheets

_HEADERS = {
    "code": ("编码", "代码", "单位编码", "code"),
    "name": ("名称", "单位名称", "单位", "name"),
    "parent": ("上级", "上级单位", "parent"),
    "contact": ("联系方式", "联系邮箱", "邮箱", "contact", "email"),
}
# Looked for in the first rows only: a header further down is not this kind of file.
_HEADER_WITHIN = 5


@dataclass(frozen=True, slots=True)
class UnitLine:
    code: str
    name: str
    parent: str | None
    contact: str | None
    # FILE:row, as errors name it.
    where: str


def read_unit_list(path: Path) -> list[UnitLine]:
    """The units of the file in file order; a file that is not such a list is one error."""
    try:
        rows = list(_rows(path))
    except ImportFileError as error:
        raise InvalidInputError(str(error)) from None
    for index, cells in enumerate(rows[:_HEADER_WITHIN]):
        columns = _header(cells)
        if columns is not None:
            return list(_units(path.name, rows, index, columns))
    wanted = "、".join(names[0] for names in _HEADERS.values())
    raise InvalidInputError(
        f"{path.name}: no header with 编码 and 名称 (code, name) in its first rows;"
        f" the columns are {wanted} (联系方式 optional)"
    )


def _rows(path: Path) -> Iterator[Cells]:
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        for sheet in workbook_sheets(path):
            if not sheet.hidden:
                yield from sheet.rows
                return
        return
    yield from csv.reader(csv_text(path).splitlines())


def _header(cells: Cells) -> dict[str, int] | None:
    found: dict[str, int] = {}
    for position, cell in enumerate(cells):
        text = _text(cell).lower()
        for field, names in _HEADERS.items():
            if text in names and field not in found:
                found[field] = position
    return found if "code" in found and "name" in found else None


def _units(
    file: str, rows: Sequence[Cells], header: int, columns: dict[str, int]
) -> Iterator[UnitLine]:
    for number, cells in enumerate(rows[header + 1 :], start=header + 2):

        def cell(field: str, cells: Cells = cells) -> str:
            position = columns.get(field)
            return _text(cells[position]) if position is not None and position < len(cells) else ""

        code, name = cell("code"), cell("name")
        if not code and not name and not cell("parent"):
            continue
        where = f"{file}:{number}"
        if not code or not name:
            missing = "编码 (code)" if not code else "名称 (name)"
            raise InvalidInputError(f"{where}: {missing} is empty")
        yield UnitLine(code, name, cell("parent") or None, cell("contact") or None, where)


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        # A county code typed into Excel arrives as a number: 410621.0 is "410621".
        return str(int(cell))
    return " ".join(str(cell).split())
