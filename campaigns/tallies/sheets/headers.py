"""Finding the header of a sheet and mapping its columns to the fields of a tally.

Two layouts are recognised, within the first few filled rows (title rows, 填报单位 and
填报日期 lines above the header are skipped; a 填报单位 line gives `Table.unit_text`):

- long: the first row that names both required columns (metric and quantity), in English or
  Chinese. Unknown columns are ignored; two columns for one field are an error of the file.
- wide: the first row of two or more text cells of which at least one names a metric
  (`metric_headers`): one column per metric, one row per activity. Its other columns are
  the activity's date (活动日期), venue (活动地点), form (活动形式, kept as the tallies' item
  unless a 物品 column gives that), note (备注), recorder (记录人) and reporting unit
  (填报单位); 序号 is ignored, and any other column is kept in the note ("said so once":
  `Table.note_columns`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from campaigns.tallies.sheets.cells import Cells, cell_text, column_letter, is_blank, show
from campaigns.tallies.sheets.import_errors import ImportFileError
from campaigns.tallies.sheets.metric_headers import (
    HeaderCellError,
    MetricHeader,
    MetricHeaders,
    normalise,
)
from campaigns.tallies.sheets.sheet_lines import unit_text

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
    # The reporting unit (a code or a name), resolved by the import against the units kept.
    "unit": ("unit", "单位", "填报单位", "报送单位"),
}
_REQUIRED = ("metric", "quantity")
# A title row or two above the header is common in spreadsheets made for printing.
_HEADER_SEARCH_ROWS = 10
# The columns of a wide sheet besides its metrics (compared after `normalise`).
WIDE_COLUMNS: dict[str, tuple[str, ...]] = {
    "occurred_at": (
        "活动日期",
        "日期",
        "活动时间",
        "时间",
        "开展时间",
        "开展日期",
        "举办时间",
        "举办日期",
        "宣传时间",
        "宣传日期",
        "occurred_at",
    ),
    "venue": ("活动地点", "地点", "活动场所", "场所", "地址", "宣传地点", "举办地点", "venue"),
    "item": ("物品", "item", "活动形式", "形式", "宣传形式", "活动方式"),
    "note": ("备注", "说明", "note"),
    "recorded_by": ("记录人", "recorded_by"),
    "unit": ("填报单位", "报送单位", "unit"),
    "ignored": ("序号", "编号", "序", "no", "no.", "key"),
}
# A cell of figures or a date is data, never a header.
_FIGURE = re.compile(r"[\d.,:/+\-年月日时分秒]*")
_WIDE_FIELDS = {name.lower(): column for column, names in WIDE_COLUMNS.items() for name in names}

_HEADER_NOISE = re.compile(r"[\s_\-]+")
_LINE_BREAK = re.compile(r"\s*\n\s*")


def _normalise_header(text: str) -> str:
    return _HEADER_NOISE.sub("", text.replace("\ufeff", "")).lower()


_ALIASES: dict[str, str] = {
    _normalise_header(name): field for field, names in COLUMN_NAMES.items() for name in names
}


@dataclass
class Table:
    header_row: int
    header: list[str]
    # The long layout's field -> cell index; in a wide sheet, its non-metric fields.
    columns: dict[str, int]
    # The rows after the header, numbered on from `header_row` (empty rows included).
    rows: Iterator[Cells]
    # CSV cells are always text, which allows the fast path of `RowChecker`.
    is_csv: bool
    layout: str = "long"
    # A wide sheet's metric columns (cell index, what its header names).
    metrics: list[tuple[int, MetricHeader]] = field(default_factory=list)
    # A wide sheet's columns that name nothing known, kept in the note.
    note_columns: list[int] = field(default_factory=list)
    # What a 填报单位 line above the header says, if any.
    unit_text: str | None = None
    # Columns left of the first cell (a workbook's used area may start at column C).
    first_column: int = 0

    def column_name(self, index: int) -> str:
        """How errors name a column: its header as written, else its letter."""
        text = self.header[index] if index < len(self.header) else ""
        # A header wrapped onto two lines (发放宣传资料\n（份）) is named as one.
        text = " ".join(_LINE_BREAK.sub("", text).split())
        return text or column_letter(index + self.first_column)

    def letter(self, index: int) -> str:
        return column_letter(index + self.first_column)


class NoHeaderError(ImportFileError):
    """No header was found: a sheet of a workbook without one is skipped."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


def find_header(
    name: str,
    rows: Iterator[Cells],
    *,
    is_csv: bool,
    metric_headers: MetricHeaders | None = None,
    first_column: int = 0,
) -> Table:
    """The sheet's header and the rows after it; `name` names the file (and sheet) in errors.

    Without `metric_headers` only the long layout is recognised.
    """
    first: list[str] | None = None
    searched = 0
    unit: str | None = None
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
            return Table(
                row, header, columns, rows, is_csv, unit_text=unit, first_column=first_column
            )
        if metric_headers is not None:
            wide = _wide_table(name, row, cells, header, metric_headers, first_column)
            if wide is not None:
                wide.rows, wide.is_csv, wide.unit_text = rows, is_csv, unit
                return wide
        unit = unit or unit_text(cells)
        first = first or header
        searched += 1
        if searched == _HEADER_SEARCH_ROWS:
            break
    if first is None:
        raise NoHeaderError(f"{name}: the file is empty", "empty")
    wanted = ", ".join(f"{field}/{COLUMN_NAMES[field][1]}" for field in _REQUIRED)
    found = ", ".join(show(text) for text in first[:12] if text) or "nothing"
    if metric_headers is None:
        raise NoHeaderError(
            f"{name}: no header row with the required columns {wanted} (first row has: {found})",
            "no header",
        )
    raise NoHeaderError(
        f"{name}: no header row with the required columns {wanted}, nor one naming metrics"
        f" such as 宣传资料（份） (first row has: {found})",
        "no tally table",
    )


def _wide_table(
    name: str,
    row: int,
    cells: Cells,
    header: list[str],
    metric_headers: MetricHeaders,
    first_column: int,
) -> Table | None:
    """The row as a wide header, or None if it is none (fewer than two text cells, a
    number or date among them, or no metric named)."""
    filled = [index for index, text in enumerate(header) if text]
    if len(filled) < 2 or any(
        type(cells[index]) is not str or _FIGURE.fullmatch(normalise(header[index]))
        for index in filled
    ):
        return None
    metrics: list[tuple[int, MetricHeader]] = []
    wrong: list[tuple[int, str]] = []
    columns: dict[str, int] = {}
    notes: list[int] = []
    for index in filled:
        known = _WIDE_FIELDS.get(normalise(header[index]).lower())
        if known == "ignored":
            continue
        if known is not None:
            if known not in columns:
                columns[known] = index
                continue
            if known != "item":
                notes.append(index)
                continue
            # 物品 is the item; 活动形式 beside it goes to the note.
            if normalise(header[index]) in ("物品", "item"):
                notes.append(columns[known])
                columns[known] = index
            else:
                notes.append(index)
            continue
        try:
            metric = metric_headers.read(header[index])
        except HeaderCellError as error:
            wrong.append((index, error.reason))
            continue
        if metric is None:
            notes.append(index)
        else:
            metrics.append((index, metric))
    if not metrics and not wrong:
        return None
    if wrong:
        index, reason = wrong[0]
        letter = column_letter(index + first_column)
        raise ImportFileError(f"{name}: row {row}, column {letter}: {reason}")
    return Table(
        row,
        header,
        columns,
        iter(()),
        False,
        layout="wide",
        metrics=metrics,
        note_columns=sorted(notes),
        first_column=first_column,
    )
