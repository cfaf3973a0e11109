"""Checking a wide sheet: one row per activity, one tally per filled metric cell.

- A metric cell holds a number in the header's unit (万元 cells are multiplied exactly, with
  Decimal, into 元); "-", "—", "/" and empty cells mean no value; "0" is a counted zero: no
  tally, and no error. Text, a negative number or a fraction of the stored unit is an error.
- The row's 活动日期 is each of its tallies' time (outside the campaign: an error), 活动地点
  its venue, 活动形式 its item, a 填报单位 column its reporting unit, 备注 and the columns
  that name nothing known its note.
- 合计, 总计 and 共计 rows are never counted: each of their cells must equal the sum of the
  rows above (or, after 小计 rows, of those since the last total row); a 小计 row must equal
  the rows since the previous total row. A disagreement is a `mismatch`; a total cell without
  a value (a formula saved without its result) cannot be checked, and a warning says so.
- Footers (填表人, 审核人, 联系电话 …) are skipped; a 填报单位 line among them names the unit.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from campaigns.planning.metrics import MetricCatalogue
from campaigns.tallies.sheets.accepted import AcceptedRows
from campaigns.tallies.sheets.cell_values import NO_MOMENT, CellParser
from campaigns.tallies.sheets.cells import CACHE_LIMIT, Cells, cell_text, show
from campaigns.tallies.sheets.headers import Table
from campaigns.tallies.sheets.import_errors import CellError, RowError
from campaigns.tallies.sheets.metric_headers import MetricHeader
from campaigns.tallies.sheets.sheet_lines import first_text, is_footer, total_label, unit_text

# Cells that mean "nothing of this kind" (compared after NFKC and strip).
NO_VALUE = frozenset(("", "-", "--", "—", "——", "–", "/", "//", "\\"))
_NUMBER = re.compile(r"\+?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_TEXT_FIELDS = ("venue", "item", "recorded_by", "unit")


class WideRowChecker(CellParser):
    """Validates a wide sheet's rows into `accepted` (shared by the sheets of one file)."""

    def __init__(
        self,
        file: str,
        table: Table,
        *,
        sheet: str | None,
        accepted: AcceptedRows,
        place: str,
        catalogue: MetricCatalogue,
        timezone: ZoneInfo,
        window: tuple[datetime, datetime] | None,
        max_quantity: int,
        max_cell_chars: int,
    ) -> None:
        super().__init__(
            catalogue=catalogue,
            timezone=timezone,
            window=window,
            max_quantity=max_quantity,
            max_cell_chars=max_cell_chars,
        )
        self.file = file
        self.sheet = sheet
        self.accepted = accepted
        self.errors: list[RowError] = []
        self.mismatches: list[RowError] = []
        self.warnings: list[str] = []
        self.failed_rows = 0
        self.data_rows = 0
        self.tallies = 0
        self._failed_totals = 0
        self.unit_text = table.unit_text
        self._where = file if sheet is None else f"{file} [{sheet}]"
        self._metrics = table.metrics
        self._metric_indexes = {index for index, _ in table.metrics}
        self._names = [table.column_name(index) for index, _ in table.metrics]
        self._places = [f"{place}{table.letter(index)}" for index, _ in table.metrics]
        self._fields = table.columns
        self._note_index = table.columns.get("note")
        self._notes = [(index, table.column_name(index)) for index in table.note_columns]
        self._used = sorted({*self._metric_indexes, *table.columns.values(), *table.note_columns})
        self._column_names = {index: table.column_name(index) for index in self._used}
        if (index := table.columns.get("unit")) is not None:
            accepted.unit_columns.append((len(accepted), sheet, self._column_names[index]))
        self._texts: dict[str, str] = {}
        self._counts: dict[tuple[object, int], int | None] = {}
        width = len(table.metrics)
        # Sums of the accepted rows: all of the sheet's, and those since the last total row.
        self._sheet_sums = [0] * width
        self._group_sums = [0] * width
        # Of which written as text in a workbook: a spreadsheet's SUM leaves such cells out.
        self._text_in_workbook = not table.is_csv
        self._sheet_texts = [0] * width
        self._group_texts = [0] * width
        self._sheet_failed = self._group_failed = False
        for index, name in self._notes:
            self.warnings.append(
                f"{self._where}: column {table.letter(index)} {show(name)} names no metric:"
                " its cells are kept in each row's note"
            )

    @property
    def total(self) -> int:
        """Rows read so far: data rows, and total rows with errors."""
        return self.data_rows + self._failed_totals

    def check_cells(self, first: int, rows: list[Cells]) -> None:
        for row, cells in enumerate(rows, first):
            self.check_row(row, cells)

    def check_row(self, row: int, cells: Cells) -> None:
        if len(cells) <= self._used[-1]:
            cells = [*cells, *[None] * (self._used[-1] + 1 - len(cells))]
        first = first_text(cells)
        if first is not None and first[0] not in self._metric_indexes:
            label = total_label(cells)
            if label is not None:
                self._check_total(row, cells, label)
                return
            if is_footer(cells):
                self.unit_text = self.unit_text or unit_text(cells)
                return
        if not any(_filled(cells[index]) for index in self._used):
            return  # blank, or only a 序号
        self.data_rows += 1
        errors: list[RowError] = []
        counts: list[int | None] = []
        for (index, header), name in zip(self._metrics, self._names, strict=True):
            try:
                counts.append(self._count(cells[index], header))
            except CellError as error:
                errors.append(RowError(self.file, row, name, error.reason, self.sheet))
                counts.append(None)
        if not errors and not any(counts):
            return  # an activity with nothing counted: empty, "-" or 0 cells
        values = self._row_fields(row, cells, errors)
        if errors:
            self.errors.extend(errors)
            self.failed_rows += 1
            self._sheet_failed = self._group_failed = True
            return
        occurred, venue, item, recorded_by, unit, note = values
        accepted = self.accepted
        for column, count in enumerate(counts):
            if not count:
                continue
            accepted.row.append(row)
            accepted.metric.append(self._metrics[column][1].metric.id)
            accepted.quantity.append(count)
            accepted.item.append(item)
            accepted.venue.append(venue)
            accepted.occurred_at.append(occurred)
            accepted.recorded_by.append(recorded_by)
            accepted.note.append(note)
            accepted.given_key.append("")
            accepted.place.append(self._places[column])
            accepted.unit.append(unit)
            self._sheet_sums[column] += count
            self._group_sums[column] += count
            if self._text_in_workbook and type(cells[self._metrics[column][0]]) is str:
                self._sheet_texts[column] += count
                self._group_texts[column] += count
            self.tallies += 1

    def _row_fields(
        self, row: int, cells: Cells, errors: list[RowError]
    ) -> tuple[datetime | None, str | None, str | None, str | None, str | None, str | None]:
        """The row's time, venue, item, recorder, unit and note; errors are added to `errors`."""

        def failed(index: int, reason: str) -> None:
            name = self._column_names[index]
            errors.append(RowError(self.file, row, name, reason, self.sheet))

        occurred = NO_MOMENT
        if (index := self._fields.get("occurred_at")) is not None:
            try:
                occurred = self._occurred_at(cells[index])
            except CellError as error:
                failed(index, error.reason)
        texts: list[str | None] = []
        for field in _TEXT_FIELDS:
            text = None
            if (index := self._fields.get(field)) is not None:
                try:
                    text = self._text(cells[index])
                except CellError as error:
                    failed(index, error.reason)
            texts.append(self._share(text))
        parts: list[str] = []
        for index, name in self._notes:
            try:
                text = self._text(cells[index])
            except CellError as error:
                failed(index, error.reason)
                continue
            if text is not None:
                parts.append(f"{name}：{text}")
        if self._note_index is not None:
            try:
                text = self._text(cells[self._note_index])
            except CellError as error:
                failed(self._note_index, error.reason)
            else:
                if text is not None:
                    parts.append(text)
        note = "；".join(parts) or None
        if note is not None and len(note) > self._max_chars:
            index = self._note_index if self._note_index is not None else self._notes[0][0]
            failed(
                index,
                f"the note columns together are longer than {self._max_chars} characters"
                f" ({len(note)})",
            )
        venue, item, recorded_by, unit = texts
        return occurred[0], venue, item, recorded_by, unit, self._share(note)

    def _share(self, text: str | None) -> str | None:
        if text is None:
            return None
        if len(self._texts) >= CACHE_LIMIT:
            self._texts.clear()
        return self._texts.setdefault(text, text)

    def _count(self, value: object, header: MetricHeader) -> int | None:
        """The cell's figure in the stored unit: None for no value, 0 for a counted zero."""
        if value is None or type(value) is bool:
            if value is None:
                return None
            raise CellError(f"not a whole number: {show(cell_text(value))}")
        key = (value, header.scale)
        try:
            known = self._counts.get(key, -1)
        except TypeError:  # an unhashable cell: never from the readers
            known = -1
        if known != -1:
            return known
        count = self._count_value(value, header)
        if len(self._counts) >= CACHE_LIMIT:
            self._counts.clear()
        self._counts[key] = count
        return count

    def _count_value(self, value: object, header: MetricHeader) -> int | None:
        if type(value) is str:
            text = unicodedata.normalize("NFKC", value).strip()
            if text in NO_VALUE:
                return None
            shown = show(value.strip())
            if len(text) > 40 or not _NUMBER.fullmatch(text):
                if text.startswith("-") and _NUMBER.fullmatch(text[1:]):
                    raise CellError(f"must not be negative: {shown}")
                raise CellError(f"not a whole number: {shown}")
            number = Decimal(text.replace(",", ""))
        elif type(value) is int:
            number, shown = Decimal(value), show(str(value))
        elif type(value) is float and math.isfinite(value):
            # As the spreadsheet shows it, to its 15 significant digits.
            number, shown = Decimal(format(value, ".15g")), show(cell_text(value))
        else:
            raise CellError(f"not a whole number: {show(cell_text(value))}")
        if number < 0:
            raise CellError(f"must not be negative: {shown}")
        try:
            stored = number * header.scale
            whole = stored == stored.to_integral_value()
        except InvalidOperation:
            whole = False
        if not whole:
            if header.scale == 1:
                raise CellError(f"not a whole number: {shown}")
            unit, exact = header.metric.unit_zh, stored.normalize()
            written = f"{shown} {header.unit}"
            raise CellError(f"not a whole number of {unit}: {written} is {exact:f} {unit}")
        count = int(stored)
        if count > self._max_quantity:
            raise CellError(f"more than the limit of {self._max_quantity:,}: {shown}")
        return count

    def _check_total(self, row: int, cells: Cells, label: str) -> None:
        """Check a 合计/小计 row against the rows it sums; it is never counted."""
        errors: list[RowError] = []
        given: list[int | None] = []
        for (index, header), name in zip(self._metrics, self._names, strict=True):
            try:
                given.append(self._count(cells[index], header))
            except CellError as error:
                errors.append(RowError(self.file, row, name, error.reason, self.sheet))
                given.append(None)
        subtotal = label == "小计"
        failed = self._group_failed if subtotal else self._sheet_failed
        unknown: list[str] = []
        if errors:
            self.errors.extend(errors)
            self.failed_rows += 1
            self._failed_totals += 1
        elif not failed:
            for column, value in enumerate(given):
                group = self._group_sums[column]
                expected = group if subtotal else self._sheet_sums[column]
                if value is None:
                    if expected:
                        unknown.append(self._names[column])
                    continue
                if value == expected or (not subtotal and value == group):
                    continue
                header = self._metrics[column][1]
                reason = (
                    f"{label} {_shown(value, header)} but the rows"
                    f" {'since the last total ' if subtotal else 'above '}add up to"
                    f" {_shown(expected, header)}"
                )
                texts = (self._group_texts if subtotal else self._sheet_texts)[column]
                if texts and value == expected - texts:
                    reason += (
                        f" ({_shown(texts, header)} of them in cells holding text, which the"
                        " sheet's own SUM leaves out: make them numbers)"
                    )
                self.mismatches.append(
                    RowError(self.file, row, self._names[column], reason, self.sheet)
                )
        if unknown:
            self.warnings.append(
                f"{self._where}: row {row}: {label} has no value in"
                f" {', '.join(map(show, unknown))} (a formula saved without its result?):"
                " not checked"
            )
        self._group_sums = [0] * len(self._metrics)
        self._group_texts = [0] * len(self._metrics)
        self._group_failed = False


def _filled(cell: object) -> bool:
    if cell is None:
        return False
    if type(cell) is str:
        return unicodedata.normalize("NFKC", cell).strip() not in NO_VALUE
    return True


def _shown(count: int, header: MetricHeader) -> str:
    """A figure in the sheet's unit, as its cells write it."""
    if header.scale == 1:
        return f"{count:,}"
    return f"{(Decimal(count) / header.scale).normalize():,f}"
