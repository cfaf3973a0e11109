"""Checking the data rows of a table: `RowChecker` collects the accepted rows and row errors.

Every bad cell of every row is reported; a row with any error is not accepted. Blank rows
are skipped (they keep their numbers), and a key given twice in a file is an error of the
second row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import compress, repeat
from operator import itemgetter
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from campaigns.planning.metrics import MetricCatalogue
from campaigns.tallies.sheets.accepted import AcceptedRows
from campaigns.tallies.sheets.cell_values import CONTROL, NO_MOMENT, CellParser
from campaigns.tallies.sheets.cells import CACHE_LIMIT, Cells, is_blank, is_blank_cell, show
from campaigns.tallies.sheets.headers import COLUMN_NAMES, Table
from campaigns.tallies.sheets.import_errors import CellError, RowError

_T = TypeVar("_T")

_FREE_TEXT = frozenset(("item", "venue", "recorded_by", "note", "key", "unit"))
# Clean CSV rows are checked in batches (see RowChecker.check_texts); a batch with a bad row is
# split until the parts are small enough to check row by row.
_BATCH_SPLIT = 8
_SMALLEST_BATCH = 64
_NONE_IF_EMPTY: dict[str, None] = {"": None}


class RowChecker(CellParser):
    """Validates data rows, collecting `accepted` and `errors`.

    A million rows must take seconds, so CSV rows take a batched path: `_accept_batch` takes
    a whole batch column by column when every row is clean (metric, quantity and time texts
    repeat, and their parsed values are remembered). A batch with any other row is split, down
    to rows checked one by one by `check_row`, which says what is wrong; workbook rows always
    go that way. Both paths give the same result for a row.
    """

    def __init__(
        self,
        file: str,
        table: Table,
        *,
        campaign_id: str,
        catalogue: MetricCatalogue,
        timezone: ZoneInfo,
        window: tuple[datetime, datetime] | None,
        max_quantity: int,
        max_cell_chars: int,
        sheet: str | None = None,
        accepted: AcceptedRows | None = None,
        place: str = "",
    ) -> None:
        self.file = file
        self.sheet = sheet
        self.accepted = accepted if accepted is not None else AcceptedRows(campaign_id=campaign_id)
        self._first_accepted = len(self.accepted)
        self._place = place
        self.errors: list[RowError] = []
        self.failed_rows = 0
        super().__init__(
            catalogue=catalogue,
            timezone=timezone,
            window=window,
            max_quantity=max_quantity,
            max_cell_chars=max_cell_chars,
        )
        self._width = len(table.header)
        self._extra_cells_are_errors = table.is_csv
        self._keys: dict[str, int] = {}
        # Free text -> the same, so that rows with the same text share one str; "" -> None.
        self._texts: dict[str, str | None] = dict(_NONE_IF_EMPTY)
        self._index = table.columns
        parsers: dict[str, Callable[[object], object]] = {
            "metric": self._metric,
            "quantity": self._quantity,
            "occurred_at": self._occurred_at,
        }
        # (position in COLUMN_NAMES, cell index, column name as written, parser)
        self._plan = [
            (slot, index, table.header[index], parsers.get(field, self._text))
            for slot, field in enumerate(COLUMN_NAMES)
            if (index := table.columns.get(field)) is not None
        ]
        self._key_column = table.header[table.columns["key"]] if "key" in table.columns else ""
        if "unit" in table.columns:
            where = (len(self.accepted), sheet, table.header[table.columns["unit"]])
            self.accepted.unit_columns.append(where)

    @property
    def total(self) -> int:
        """Rows read so far (accepted and failed)."""
        return len(self.accepted) - self._first_accepted + self.failed_rows

    @property
    def tallies(self) -> int:
        return len(self.accepted) - self._first_accepted

    def check_cells(self, first: int, rows: list[Cells]) -> None:
        for row, cells in enumerate(rows, first):
            self.check_row(row, cells)

    def check_texts(self, first: int, rows: list[Cells]) -> None:
        """Check CSV rows numbered from `first`: in batches while clean, singly near bad ones."""
        if len(rows) <= _SMALLEST_BATCH:
            self.check_cells(first, rows)
        elif not self._accept_batch(first, rows):
            step = -(-len(rows) // _BATCH_SPLIT)
            for start in range(0, len(rows), step):
                self.check_texts(first + start, rows[start : start + step])

    def _accept_batch(self, first: int, rows: list[Cells]) -> bool:
        """Accept all of `rows` at once, or nothing (False) if any row needs a closer look.

        Works column by column with C-level loops (map, zip, join, regex) so that no Python
        code runs per row; state (accepted, keys) changes only once the whole batch is known good.
        """
        numbers = range(first, first + len(rows))
        if set(map(len, rows)) != {self._width}:
            return False
        texts = {
            field: list(map(str.strip, map(itemgetter(index), rows)))
            for field, index in self._index.items()
        }
        # Metric, quantity and time texts are checked by their parsers before they are cached.
        for field in _FREE_TEXT.intersection(texts):
            column = texts[field]
            if max(map(len, column)) > self._max_chars:
                return False
            joined = "".join(column)
            # isprintable is quick but also False for fine characters such as U+3000.
            if not joined.isprintable() and CONTROL.search(joined):
                return False
        metric_ids = _known(texts["metric"], self._metric_ids, self._metric)
        quantities = _known(texts["quantity"], self._quantities, self._quantity)
        if metric_ids is None or quantities is None:
            return False
        if "occurred_at" in texts:
            moments = _known(texts["occurred_at"], self._moments, self._occurred_at)
            if moments is None:
                return False
            occurred: Iterable[datetime | None] = map(itemgetter(0), moments)
        else:
            occurred = repeat(None, len(numbers))
        given = texts.get("key")
        named = [key for key in given if key] if given else []
        if len(set(named)) != len(named) or not self._keys.keys().isdisjoint(named):
            return False
        accepted = self.accepted
        accepted.row.extend(numbers)
        accepted.metric.extend(metric_ids)
        accepted.quantity.extend(quantities)
        accepted.item.extend(self._shared(texts, "item", len(numbers)))
        accepted.venue.extend(self._shared(texts, "venue", len(numbers)))
        accepted.occurred_at.extend(occurred)
        accepted.recorded_by.extend(self._shared(texts, "recorded_by", len(numbers)))
        accepted.note.extend(self._shared(texts, "note", len(numbers)))
        accepted.given_key.extend(repeat("", len(numbers)) if given is None else given)
        accepted.place.extend(repeat(self._place, len(numbers)))
        accepted.unit.extend(self._shared(texts, "unit", len(numbers)))
        self._keys.update(zip(named, compress(numbers, given or ()), strict=True))
        return True

    def _shared(self, texts: dict[str, list[str]], field: str, count: int) -> Iterable[str | None]:
        """The column's texts as stored: None for empty, else a str shared by equal texts."""
        column = texts.get(field)
        if column is None:
            return repeat(None, count)
        share = self._shared_texts().setdefault
        return map(share, column, column)

    def _share(self, text: str | None) -> str | None:
        """`text` as stored (see `_shared`)."""
        return None if text is None else self._shared_texts().setdefault(text, text)

    def _shared_texts(self) -> dict[str, str | None]:
        if len(self._texts) >= CACHE_LIMIT:
            self._texts.clear()
            self._texts.update(_NONE_IF_EMPTY)
        return self._texts

    def check_row(self, row: int, cells: Cells) -> None:
        """Check one row cell by cell, recording every problem."""
        if is_blank(cells):
            return
        errors: list[RowError] = []
        count = len(cells)
        if count < self._width:
            cells = [*cells, *[None] * (self._width - count)]
        values: list[Any] = [None] * len(COLUMN_NAMES)
        for slot, index, column, parse in self._plan:
            try:
                values[slot] = parse(cells[index])
            except CellError as error:
                errors.append(RowError(self.file, row, column, error.reason, self.sheet))
        metric, quantity, item, venue, occurred, recorded_by, note, key, unit = values
        if count > self._width and self._extra_cells_are_errors:
            extra = sum(1 for cell in cells[self._width :] if not is_blank_cell(cell))
            if extra:
                errors.append(
                    RowError(
                        self.file,
                        row,
                        "",
                        f"{extra} filled cell(s) beyond the last column of the header"
                        " (a value with a comma, like 1,200, must be in quotes)",
                        self.sheet,
                    )
                )
        if key is not None:
            first = self._keys.setdefault(key, row)
            if first != row:
                reason = f"duplicate key {show(key)} (first on row {first})"
                errors.append(RowError(self.file, row, self._key_column, reason, self.sheet))
        if errors or metric is None or quantity is None:
            self.errors.extend(errors)
            self.failed_rows += 1
            return
        occurred_at = (occurred or NO_MOMENT)[0]  # no such column
        accepted = self.accepted
        accepted.row.append(row)
        accepted.metric.append(metric)
        accepted.quantity.append(quantity)
        accepted.item.append(self._share(item))
        accepted.venue.append(self._share(venue))
        accepted.occurred_at.append(occurred_at)
        accepted.recorded_by.append(self._share(recorded_by))
        accepted.note.append(self._share(note))
        accepted.given_key.append(key or "")
        accepted.place.append(self._place)
        accepted.unit.append(self._share(unit))


def _known(
    texts: list[str], cache: dict[str, _T], parse: Callable[[str], object]
) -> list[_T] | None:
    """The cached parse of each text, parsing the new ones; None if any is invalid."""
    found = list(map(cache.get, texts))
    if None in found:
        try:
            for text in {text for text, value in zip(texts, found, strict=True) if value is None}:
                parse(text)
        except CellError:
            return None
        found = list(map(cache.get, texts))
        if None in found:  # the bounded cache was cleared meanwhile
            return None
    return found  # type: ignore[return-value]
