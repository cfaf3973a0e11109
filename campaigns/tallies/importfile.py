"""Reading and validating tally import files (CSV or .xlsx) into rows ready to record.

Pure: no database, no broker. `read_tally_file` turns a file into validated rows (as
`AcceptedRows`, one list per `TallyRow` field; `ImportReport.rows` makes `TallyRow`s of them)
plus a complete list of `RowError`s (every bad cell of every row), or raises `ImportFileError`
when the file as a whole cannot be used. `write_rejects` writes the rejected rows beside the
input so the field staff can fix them in Excel and import them again.

Conventions a user of an import file relies on:

- CSV is UTF-8 (with or without BOM) or GB18030, detected; .xlsx is read from its first sheet.
- The header is the first row that names both required columns (metric and quantity); rows
  above it (a title such as "2019年科技活动周统计表") are ignored. Unknown columns are ignored.
- Row numbers are those a spreadsheet shows (the first line of the file is row 1); blank
  rows are skipped but keep their numbers.
- A date without a time means the start of that day (00:00) in the campaign's timezone;
  any time without an offset is in the campaign's timezone.
- Without a `key` column, each row's key is derived from the campaign, the row's fields and its
  row number: importing the same file twice gives the same keys (so it counts once), and two
  identical rows at different positions are two tallies.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import math
import re
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, partial
from hashlib import blake2b
from itertools import chain, compress, islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from campaigns.planning.metrics import MetricCatalogue, UnknownMetricError
from campaigns.when import parse_local

PROGRESS_EVERY = 10_000

# Field name -> the header spellings accepted for it (compared after `_normalise_header`).
_COLUMN_NAMES: dict[str, tuple[str, ...]] = {
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
_FREE_TEXT = frozenset(("item", "venue", "recorded_by", "note", "key"))
# A title row or two above the header is common in spreadsheets made for printing.
_HEADER_SEARCH_ROWS = 10
# Caches of parsed cell values are bounded so a file of all-distinct values cannot exhaust memory.
_CACHE_LIMIT = 100_000
# Clean CSV rows are checked in batches (see _RowChecker.check_texts); a batch with a bad row is
# split until the parts are small enough to check row by row.
_BATCH_SPLIT = 8
_SMALLEST_BATCH = 64
# CSV text is split into lines this many characters (and up to a line) at a time.
_BLOCK_CHARS = 1 << 20
# What a spreadsheet may run as a formula when the rejects file is opened (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Text that only the csv module reads right: quotes, NUL (an error there), and the line
# breaks that str.splitlines knows but CSV does not.
_NOT_PLAIN = re.compile('["\x00\x0b\x0c\x1c-\x1e\x85\u2028\u2029]')
_HEADER_NOISE = re.compile(r"[\s_\-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # tab is allowed
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
# Spreadsheet tools write whole numbers from float columns as "300.0".
_WHOLE_DECIMAL = re.compile(r"(\d+)\.0+")


def _normalise_header(text: str) -> str:
    return _HEADER_NOISE.sub("", text.replace("\ufeff", "")).lower()


_ALIASES: dict[str, str] = {
    _normalise_header(name): field for field, names in _COLUMN_NAMES.items() for name in names
}


@dataclass(frozen=True, slots=True)
class TallyRow:
    row: int
    metric: str
    quantity: int
    item: str | None
    venue: str | None
    occurred_at: datetime | None
    recorded_by: str | None
    note: str | None
    key: str


@dataclass(frozen=True, slots=True)
class RowError:
    file: str
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        # A row-wide problem (cells beyond the header) has no single column to name.
        where = f"row {self.row}, column {self.column}" if self.column else f"row {self.row}"
        return f"{self.file}: {where}: {self.reason}"


@dataclass(slots=True)
class AcceptedRows:
    """The valid rows of a file in file order, as columns: one list per `TallyRow` field.

    A million rows as columns take a fraction of the memory (and time) of a million
    `TallyRow`s; repeated texts share one str. Slice a column for a part of the rows.
    """

    row: list[int] = dataclass_field(default_factory=list)
    metric: list[str] = dataclass_field(default_factory=list)
    quantity: list[int] = dataclass_field(default_factory=list)
    item: list[str | None] = dataclass_field(default_factory=list)
    venue: list[str | None] = dataclass_field(default_factory=list)
    occurred_at: list[datetime | None] = dataclass_field(default_factory=list)
    recorded_by: list[str | None] = dataclass_field(default_factory=list)
    note: list[str | None] = dataclass_field(default_factory=list)
    # The `key` column's text, "" where the key is to be derived (see `keys`).
    given_key: list[str] = dataclass_field(default_factory=list)
    campaign_id: str = ""
    # Times as ISO text, as keys spell them (bounded like the caches of validation).
    _isos: dict[datetime | None, str] = dataclass_field(
        default_factory=dict, compare=False, repr=False
    )

    def __len__(self) -> int:
        return len(self.row)

    def keys(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The keys of rows [start:stop]: as given, else derived from the campaign, the row's
        values and its number.

        Derived here rather than while validating, so that an import spends the hashing
        while the workers already store the first chunks, not before it may publish any.
        """
        given = self.given_key[start:stop]
        if all(given):
            return given
        moments = self.occurred_at[start:stop]
        isos = self._isos
        if len(isos) >= _CACHE_LIMIT:
            isos.clear()
        for moment in set(moments).difference(isos):
            isos[moment] = moment.isoformat() if moment else ""

        def texts(column: list[str | None]) -> Iterator[str]:
            part = column[start:stop]
            return map(_EMPTY_IF_NONE.get, part, part)  # type: ignore[arg-type]

        derived = map(
            blake2b.hexdigest,
            map(
                _blake2b_16,
                map(
                    str.encode,
                    map(
                        _KEY_SEPARATOR.join,
                        zip(
                            repeat(self.campaign_id),
                            self.metric[start:stop],
                            map(str, self.quantity[start:stop]),
                            texts(self.item),
                            texts(self.venue),
                            map(isos.__getitem__, moments),
                            texts(self.recorded_by),
                            texts(self.note),
                            map(str, self.row[start:stop]),
                        ),
                    ),
                ),
            ),
        )
        if not any(given):
            return list(derived)
        return [key or new for key, new in zip(given, derived, strict=True)]

    def tally_rows(self, start: int = 0, stop: int | None = None) -> list[TallyRow]:
        """Rows [start:stop] as `TallyRow`s."""
        columns = [getattr(self, name)[start:stop] for name in _FIELD_NAMES[:-1]]
        columns.append(self.keys(start, stop))
        with _collector_paused():
            tallies = list(map(object.__new__, repeat(TallyRow, len(columns[0]))))
            for set_field, values in zip(_SLOTS, columns, strict=True):
                deque(map(set_field, tallies, values), maxlen=0)
        return tallies


@dataclass
class ImportReport:
    """The valid rows of a file, the errors of the others, and how many rows there were."""

    accepted: AcceptedRows
    errors: list[RowError]
    total_rows: int

    @cached_property
    def rows(self) -> list[TallyRow]:
        """The accepted rows as `TallyRow`s, made on first use."""
        return self.accepted.tally_rows()


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message names the file and the problem."""


class _CellError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_Cells = Sequence[object]
_T = TypeVar("_T")
_K = TypeVar("_K")


@dataclass
class _Table:
    header_row: int
    header: list[str]
    columns: dict[str, int]
    # The rows after the header, numbered on from `header_row` (empty rows included).
    rows: Iterator[_Cells]
    # CSV cells are always text, which allows the fast path of `_RowChecker`.
    is_csv: bool


def read_tally_file(
    path: Path,
    *,
    campaign_id: str,
    catalogue: MetricCatalogue,
    timezone: ZoneInfo,
    window: tuple[datetime, datetime] | None = None,
    max_quantity: int = 10**9,
    max_cell_chars: int = 500,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read and validate every row of `path`; raise ImportFileError if the file is unusable.

    `window` is the campaign's [start, end) in UTC (naive means UTC), as `local_bounds` makes
    it: times outside it are row errors, so a date alone for the day after the last is one.
    `progress` is called with the number of rows read so far every 10,000 rows and at the end.
    """
    with _open_table(path) as table, _collector_paused():
        checker = _RowChecker(
            path.name,
            table,
            campaign_id=campaign_id,
            catalogue=catalogue,
            timezone=timezone,
            window=window,
            max_quantity=max_quantity,
            max_cell_chars=max_cell_chars,
        )
        check_chunk = checker.check_texts if table.is_csv else checker.check_cells
        first = table.header_row + 1
        while chunk := list(islice(table.rows, PROGRESS_EVERY)):
            check_chunk(first, chunk)
            first += len(chunk)
            if progress is not None:
                progress(checker.total)
    if checker.total == 0:
        raise ImportFileError(
            f"{path.name}: no tally rows below the header (row {table.header_row})"
        )
    return ImportReport(checker.accepted, checker.errors, checker.total)


def write_rejects(report: ImportReport, source: Path) -> Path:
    """Write the rows of `source` that have errors to "<stem>.rejects.csv" beside it.

    The original cells come first, then an "error" column with every problem of the row. The
    file is UTF-8 with BOM so Excel opens it, and cells that a spreadsheet would run as a
    formula are prefixed with an apostrophe.
    """
    reasons: dict[int, list[str]] = {}
    for error in report.errors:
        text = f"{error.column}: {error.reason}" if error.column else error.reason
        reasons.setdefault(error.row, []).append(text)
    rejected: list[tuple[int, list[str]]] = []
    with _open_table(source) as table:
        header = table.header
        for row, cells in enumerate(table.rows, table.header_row + 1):
            if row in reasons:
                rejected.append((row, [_cell_text(cell) for cell in cells]))
    width = max([len(header), *(len(cells) for _, cells in rejected)])
    target = source.with_name(f"{source.stem}.rejects.csv")
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(_neutralise([*header, *[""] * (width - len(header)), "error"]))
        for row, cells in rejected:
            padded = [*cells, *[""] * (width - len(cells))]
            writer.writerow(_neutralise([*padded, "; ".join(reasons[row])]))
    return target


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows pile up.

    Each full collection re-scans every row made so far: at a million rows that doubles the
    time of an import. The rows hold no reference cycles, so nothing is lost by waiting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _neutralise(cells: list[str]) -> list[str]:
    return [f"'{cell}" if cell.startswith(_FORMULA_PREFIXES) else cell for cell in cells]


class _RowChecker:
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
        table: _Table,
        *,
        campaign_id: str,
        catalogue: MetricCatalogue,
        timezone: ZoneInfo,
        window: tuple[datetime, datetime] | None,
        max_quantity: int,
        max_cell_chars: int,
    ) -> None:
        self.file = file
        self.accepted = AcceptedRows(campaign_id=campaign_id)
        self.errors: list[RowError] = []
        self.failed_rows = 0
        self._campaign = campaign_id
        self._catalogue = catalogue
        self._timezone = timezone
        self._window: tuple[datetime, datetime] | None = None
        if window is not None:
            # Databases such as SQLite hand back UTC times without their zone.
            start, end = (m if m.tzinfo else m.replace(tzinfo=UTC) for m in window)
            self._window = (start, end)
            first, last = (moment.astimezone(timezone) for moment in self._window)
            if last.time() == time() and last > first:
                # A window that ends at midnight has the day before as its last day.
                last -= timedelta(microseconds=1)
            self._outside = (
                f"outside the campaign ({first.date().isoformat()} – {last.date().isoformat()})"
            )
        self._max_quantity = max_quantity
        self._max_chars = max_cell_chars
        self._width = len(table.header)
        self._extra_cells_are_errors = table.is_csv
        self._keys: dict[str, int] = {}
        # Stripped text -> parsed value, for texts that parsed valid (bounded by _CACHE_LIMIT).
        self._metric_ids: dict[str, str] = {}
        self._quantities: dict[str, int] = {}
        self._moments: dict[str, tuple[datetime | None, str]] = {}
        # Date and datetime cells of a workbook -> the same.
        self._cell_moments: dict[object, tuple[datetime | None, str]] = {}
        # Free text -> the same, so that rows with the same text share one str; "" -> None.
        self._texts: dict[str, str | None] = dict(_NONE_IF_EMPTY)
        self._index = table.columns
        parsers: dict[str, Callable[[object], object]] = {
            "metric": self._metric,
            "quantity": self._quantity,
            "occurred_at": self._occurred_at,
        }
        # (position in _COLUMN_NAMES, cell index, column name as written, parser)
        self._plan = [
            (slot, index, table.header[index], parsers.get(field, self._text))
            for slot, field in enumerate(_COLUMN_NAMES)
            if (index := table.columns.get(field)) is not None
        ]
        self._key_column = table.header[table.columns["key"]] if "key" in table.columns else ""

    @property
    def total(self) -> int:
        return len(self.accepted) + self.failed_rows

    def check_cells(self, first: int, rows: list[_Cells]) -> None:
        for row, cells in enumerate(rows, first):
            self.check_row(row, cells)

    def check_texts(self, first: int, rows: list[_Cells]) -> None:
        """Check CSV rows numbered from `first`: in batches while clean, singly near bad ones."""
        if len(rows) <= _SMALLEST_BATCH:
            self.check_cells(first, rows)
        elif not self._accept_batch(first, rows):
            step = -(-len(rows) // _BATCH_SPLIT)
            for start in range(0, len(rows), step):
                self.check_texts(first + start, rows[start : start + step])

    def _accept_batch(self, first: int, rows: list[_Cells]) -> bool:
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
            if not joined.isprintable() and _CONTROL.search(joined):
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
        if len(self._texts) >= _CACHE_LIMIT:
            self._texts.clear()
            self._texts.update(_NONE_IF_EMPTY)
        return self._texts

    def check_row(self, row: int, cells: _Cells) -> None:
        """Check one row cell by cell, recording every problem."""
        if _is_blank(cells):
            return
        errors: list[RowError] = []
        count = len(cells)
        if count < self._width:
            cells = [*cells, *[None] * (self._width - count)]
        values: list[Any] = [None] * len(_COLUMN_NAMES)
        for slot, index, column, parse in self._plan:
            try:
                values[slot] = parse(cells[index])
            except _CellError as error:
                errors.append(RowError(self.file, row, column, error.reason))
        metric, quantity, item, venue, occurred, recorded_by, note, key = values
        if count > self._width and self._extra_cells_are_errors:
            extra = sum(1 for cell in cells[self._width :] if not _is_blank_cell(cell))
            if extra:
                errors.append(
                    RowError(
                        self.file,
                        row,
                        "",
                        f"{extra} filled cell(s) beyond the last column of the header"
                        " (a value with a comma, like 1,200, must be in quotes)",
                    )
                )
        if key is not None:
            first = self._keys.setdefault(key, row)
            if first != row:
                reason = f"duplicate key {_show(key)} (first on row {first})"
                errors.append(RowError(self.file, row, self._key_column, reason))
        if errors or metric is None or quantity is None:
            self.errors.extend(errors)
            self.failed_rows += 1
            return
        occurred_at = (occurred or _NO_MOMENT)[0]  # no such column
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

    def _text(self, value: object) -> str | None:
        if value is None:
            return None
        text = (value if type(value) is str else _cell_text(value)).strip()
        if not text:
            return None
        if len(text) > self._max_chars:
            raise _CellError(f"longer than {self._max_chars} characters ({len(text)})")
        if control := _CONTROL.search(text):
            raise _CellError(f"contains a control character (U+{ord(control[0]):04X})")
        return text

    def _metric(self, value: object) -> str:
        if type(value) is str and (known := self._metric_ids.get(value)) is not None:
            return known
        text = self._text(value)
        if text is None:
            raise _CellError("empty; a metric is required")
        known = self._metric_ids.get(text)
        if known is not None:
            return known
        try:
            metric = self._catalogue.resolve(text).id
        except UnknownMetricError:
            raise _CellError(f"unknown metric {_show(text)}") from None
        _remember(self._metric_ids, text, metric)
        return metric

    def _quantity(self, value: object) -> int:
        if type(value) is str:
            text = value.strip()
            known = self._quantities.get(text)
            if known is None:
                known = self._quantity_text(text)
                _remember(self._quantities, text, known)
            return known
        if value is None:
            raise _CellError("empty; a quantity is required")
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        # bool is an int to Python but TRUE is no quantity.
        if type(value) is not int:
            raise _CellError(f"not a whole number: {_show(_cell_text(value))}")
        return self._quantity_range(value, str(value))

    def _quantity_text(self, text: str) -> int:
        if not text:
            raise _CellError("empty; a quantity is required")
        if len(text) > self._max_chars:
            raise _CellError(f"longer than {self._max_chars} characters ({len(text)})")
        if text.isdecimal():
            digits = text
        elif _THOUSANDS.fullmatch(text):
            digits = text.replace(",", "")
        elif match := _WHOLE_DECIMAL.fullmatch(text):
            digits = match[1]
        else:
            raise _CellError(_why_not_whole(text))
        # int() refuses very long digit strings; anything that long is over any limit anyway.
        if len(digits) > len(str(self._max_quantity)) + 1:
            raise _CellError(f"more than the limit of {self._max_quantity:,}: {_show(text)}")
        return self._quantity_range(int(digits), text)

    def _quantity_range(self, quantity: int, text: str) -> int:
        if quantity <= 0:
            raise _CellError(f"must be more than 0: {_show(text)}")
        if quantity > self._max_quantity:
            raise _CellError(f"more than the limit of {self._max_quantity:,}: {_show(text)}")
        return quantity

    def _occurred_at(self, value: object) -> tuple[datetime | None, str]:
        """The time in UTC and its ISO text (part of derived keys); (None, "") when empty."""
        if type(value) is str:
            text = self._text(value)
            if text is None:
                _remember(self._moments, "", _NO_MOMENT)
                return _NO_MOMENT
            known = self._moments.get(text)
            if known is not None:
                return known
            moment = parse_local(text)
            if moment is None:
                raise _CellError(
                    f"not a date: {_show(text)} (write 2019-04-15, 2019-04-15 10:30,"
                    " 2019/4/15 or 2019年4月15日)"
                )
        elif value is None:
            return _NO_MOMENT
        elif isinstance(value, date):
            known = self._cell_moments.get(value)
            if known is not None:
                return known
            moment = value if isinstance(value, datetime) else datetime.combine(value, time())
        else:
            raise _CellError(f"not a date: {_show(_cell_text(value))}")
        try:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self._timezone)
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise _CellError(f"not a date: {_show(_cell_text(value))}") from None
        if self._window is not None and not self._window[0] <= moment < self._window[1]:
            raise _CellError(self._outside)
        parsed: tuple[datetime | None, str] = (moment, moment.isoformat())
        if type(value) is str:
            _remember(self._moments, value.strip(), parsed)
        else:
            _remember(self._cell_moments, value, parsed)
        return parsed


# Set the slots of a TallyRow made with object.__new__: a dataclass(frozen=True) __init__
# goes through object.__setattr__ per field, which would cost more than all checks of a row.
_FIELD_NAMES = tuple(field.name for field in fields(TallyRow))
_SLOTS = tuple(getattr(TallyRow, name).__set__ for name in _FIELD_NAMES)
_KEY_SEPARATOR = "\x1f"  # a control character, so never inside an accepted cell
_blake2b_16 = partial(blake2b, digest_size=16)
_NONE_IF_EMPTY: dict[str, None] = {"": None}
_EMPTY_IF_NONE: dict[None, str] = {None: ""}
_NO_MOMENT: tuple[datetime | None, str] = (None, "")


def _known(
    texts: list[str], cache: dict[str, _T], parse: Callable[[str], object]
) -> list[_T] | None:
    """The cached parse of each text, parsing the new ones; None if any is invalid."""
    found = list(map(cache.get, texts))
    if None in found:
        try:
            for text in {text for text, value in zip(texts, found, strict=True) if value is None}:
                parse(text)
        except _CellError:
            return None
        found = list(map(cache.get, texts))
        if None in found:  # the bounded cache was cleared meanwhile
            return None
    return found  # type: ignore[return-value]


def _remember(cache: dict[_K, _T], key: _K, value: _T) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _why_not_whole(text: str) -> str:
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return f"not a whole number: {_show(text)}"
    if math.isfinite(number) and number <= 0:
        return f"must be more than 0: {_show(text)}"
    return f"not a whole number: {_show(text)}"


def _show(text: str) -> str:
    """`text` quoted for an error message, cut short so a huge cell makes a short message."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _cell_text(value: object) -> str:
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


def _is_blank_cell(value: object) -> bool:
    return value is None or (type(value) is str and not value.strip())


def _is_blank(cells: _Cells) -> bool:
    return not any(cell is not None and (type(cell) is not str or cell.strip()) for cell in cells)


@contextmanager
def _open_table(path: Path) -> Iterator[_Table]:
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ImportFileError(
            f"{name}: unsupported file type {suffix or '(none)'!r}; import .csv or .xlsx"
            " (save .xls workbooks as .xlsx)"
        )
    with ExitStack() as stack:
        if suffix == ".csv":
            text = _csv_text(path)
            if not _NOT_PLAIN.search(text):
                # Without quotes a CSV row is a line split at commas: str.split does what
                # the csv module does, in less than half the time.
                lines = chain.from_iterable(map(str.splitlines, _blocks(text)))
                rows = map(str.split, lines, repeat(","))
                yield _find_header(name, rows, is_csv=True)
                return
            reader = csv.reader(io.StringIO(text, newline=""))
            try:
                yield _find_header(name, reader, is_csv=True)
            except csv.Error as error:
                raise ImportFileError(
                    f"{name}: line {reader.line_num}: not valid CSV ({error})"
                ) from None
        else:
            sheet = _xlsx_records(path)
            stack.callback(sheet.close)
            yield _find_header(name, sheet, is_csv=False)


def _blocks(text: str) -> Iterator[str]:
    """`text` in parts of whole lines: the lines of the parts are those of `text`, without
    holding them all at once (a million lines take more memory than the text itself).

    A part ends just after a line feed, which ends a line whatever comes before it (a carriage
    return and line feed are one line break, never split).
    """
    start = 0
    while start < len(text):
        end = text.find("\n", start + _BLOCK_CHARS)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _csv_text(path: Path) -> str:
    """The file's text: UTF-8 (BOM or not) when it is valid UTF-8, else GB18030 when valid."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImportFileError(f"{name}: cannot read the file ({error.strerror})") from None
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(f"{name}: an Excel workbook, not CSV; name it .xlsx")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            f"{name}: UTF-16 text is not supported; save it as 'CSV UTF-8' in Excel"
        )
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(
        f"{name}: the text is neither UTF-8 nor GB18030; save it as 'CSV UTF-8' in Excel"
    )


def _xlsx_records(path: Path) -> Generator[_Cells, None, None]:
    """The first sheet's rows, numbered as Excel numbers them."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except OSError as error:
        raise ImportFileError(f"{path.name}: cannot read the file ({error.strerror})") from None
    except Exception as error:  # openpyxl raises many kinds on a corrupt or foreign file
        raise ImportFileError(
            f"{path.name}: not a readable .xlsx workbook ({type(error).__name__})"
        ) from None
    try:
        sheet = workbook.worksheets[0]
        # The stored dimensions may be wrong (some tools write A1:A1); read what is there.
        sheet.reset_dimensions()
        yield from sheet.iter_rows(values_only=True)
    except Exception as error:  # a damaged sheet part fails only when it is read
        raise ImportFileError(
            f"{path.name}: not a readable .xlsx workbook ({type(error).__name__})"
        ) from None
    finally:
        workbook.close()


def _find_header(name: str, rows: Iterator[_Cells], *, is_csv: bool) -> _Table:
    first: list[str] | None = None
    searched = 0
    for row, cells in enumerate(rows, 1):
        if _is_blank(cells):
            continue
        header = [_cell_text(cell).replace("\ufeff", "").strip() for cell in cells]
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
                    f"{name}: row {row}: columns {_show(header[columns[field]])} and"
                    f" {_show(text)} both mean {field}"
                )
            return _Table(row, header, columns, rows, is_csv)
        first = first or header
        searched += 1
        if searched == _HEADER_SEARCH_ROWS:
            break
    if first is None:
        raise ImportFileError(f"{name}: the file is empty")
    wanted = ", ".join(f"{field}/{_COLUMN_NAMES[field][1]}" for field in _REQUIRED)
    found = ", ".join(_show(text) for text in first[:12] if text) or "nothing"
    raise ImportFileError(
        f"{name}: no header row with the required columns {wanted} (first row has: {found})"
    )
