"""Finding the header of an import file and mapping its columns to the fields of a tally.

The header is the first row that names both required columns (metric and quantity), in
English or Chinese, within the first few rows; a title row above it is skipped. Unknown
columns are ignored; two columns for one field are an error of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from campaigns.tallies.sheets.cells import Cells, cell_text, is_blank, show
from campaigns.tallies.sheets.import_errors import ImportFileError

# Field name -> the header spellings accepted for it (compared after `_normalise_header`).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "metric": ("metric", "指标"),
    "quantity": ("quantity", "数量"),
    "item": ("item", "物品"),
    "venue": ("venue", "地点"),
    "occurred_at": ("occurred_at", "时间"),
    "recorded_by": ("recorded_by", "记录人"),
    "note": ("note", "备注"),
    "key": ("key", "编号"),
}
_REQUIRED = ("metric", "quantity")
# A title row or two above the header is common in spreadsheets made for printing.
_HEADER_SEARCH_ROWS = 10

_HEADER_NOISE = re.compile(r"[\s_\-]+")


def _normalise_header(text: str) -> str:
    return _HEADER_NOISE.sub("", text.replace("\ufeff", "")).lower()


_ALIASES: dict[str, str] = {
    _normalise_header(name): field for field, names in COLUMN_NAMES.items() for name in names
}


@dataclass
class Table:
    header_row: int
    header: list[str]
    columns: dict[str, int]
    # The rows after the header, numbered on from `header_row` (empty rows included).
    rows: Iterator[Cells]
    # CSV cells are always text, which allows the fast path of `RowChecker`.
    is_csv: bool


def find_header(name: str, rows: Iterator[Cells], *, is_csv: bool) -> Table:
    first: list[str] | None = None
    searched = 0
    for row, cells in enumerate(rows, 1):
        if is_blank(cells):
            continue
        header = [cell_text(cell).replace("\ufeff", "").strip() for cell in cells]
        columns: dict[str, int] = {}
        repeated: list[tuple[str, str]] = []
        for index, text in enumerate(header):
            field = _ALIASES.get(_normalise_header(text))
            if field is None:
                continue
            if field in columns:
                repeated.append((field, text))
            columns.setdefault(field, index)
        if all(field in columns for field in _REQUIRED):
            if repeated:
                field, text = repeated[0]
                raise ImportFileError(
                    f"{name}: row {row}: columns {show(header[columns[field]])} and"
                    f" {show(text)} both mean {field}"
                )
            return Table(row, header, columns, rows, is_csv)
        first = first or header
        searched += 1
        if searched == _HEADER_SEARCH_ROWS:
            break
    if first is None:
        raise ImportFileError(f"{name}: the file is empty")
    wanted = ", ".join(f"{field}/{COLUMN_NAMES[field][1]}" for field in _REQUIRED)
    found = ", ".join(show(text) for text in first[:12] if text) or "nothing"
    raise ImportFileError(
        f"{name}: no header row with the required columns {wanted} (first row has: {found})"
    )
