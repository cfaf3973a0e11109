"""From one cell to the value of a tally's field, or a `CellError` saying what is wrong.

`CellParser` holds the rules of each field (text length and control characters, a known
metric, a whole quantity within the limit, a time within the campaign) and remembers the
texts it parsed valid: metric, quantity and time texts repeat, and the batched path of
`RowChecker` takes a whole column from those caches.

A date without a time means the start of that day (00:00) in the campaign's timezone; any
time without an offset is in the campaign's timezone.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from campaigns.planning.metrics import MetricCatalogue, UnknownMetricError
from campaigns.tallies.sheets.cells import CACHE_LIMIT, cell_text, show
from campaigns.tallies.sheets.import_errors import CellError
from campaigns.when import parse_local

_T = TypeVar("_T")
_K = TypeVar("_K")

CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # tab is allowed
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
# Spreadsheet tools write whole numbers from float columns as "300.0".
_WHOLE_DECIMAL = re.compile(r"(\d+)\.0+")
NO_MOMENT: tuple[datetime | None, str] = (None, "")


class CellParser:
    """Parses the cells of one file's rows; its caches live as long as the file is read."""

    def __init__(
        self,
        *,
        catalogue: MetricCatalogue,
        timezone: ZoneInfo,
        window: tuple[datetime, datetime] | None,
        max_quantity: int,
        max_cell_chars: int,
    ) -> None:
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
        # Stripped text -> parsed value, for texts that parsed valid (bounded by CACHE_LIMIT).
        self._metric_ids: dict[str, str] = {}
        self._quantities: dict[str, int] = {}
        self._moments: dict[str, tuple[datetime | None, str]] = {}
        # Date and datetime cells of a workbook -> the same.
        self._cell_moments: dict[object, tuple[datetime | None, str]] = {}

    def _text(self, value: object) -> str | None:
        if value is None:
            return None
        text = (value if type(value) is str else cell_text(value)).strip()
        if not text:
            return None
        if len(text) > self._max_chars:
            raise CellError(f"longer than {self._max_chars} characters ({len(text)})")
        if control := CONTROL.search(text):
            raise CellError(f"contains a control character (U+{ord(control[0]):04X})")
        return text

    def _metric(self, value: object) -> str:
        if type(value) is str and (known := self._metric_ids.get(value)) is not None:
            return known
        text = self._text(value)
        if text is None:
            raise CellError("empty; a metric is required")
        known = self._metric_ids.get(text)
        if known is not None:
            return known
        try:
            metric = self._catalogue.resolve(text).id
        except UnknownMetricError:
            raise CellError(f"unknown metric {show(text)}") from None
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
            raise CellError("empty; a quantity is required")
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        # bool is an int to Python but TRUE is no quantity.
        if type(value) is not int:
            raise CellError(f"not a whole number: {show(cell_text(value))}")
        return self._quantity_range(value, str(value))

    def _quantity_text(self, text: str) -> int:
        if not text:
            raise CellError("empty; a quantity is required")
        if len(text) > self._max_chars:
            raise CellError(f"longer than {self._max_chars} characters ({len(text)})")
        if text.isdecimal():
            digits = text
        elif _THOUSANDS.fullmatch(text):
            digits = text.replace(",", "")
        elif match := _WHOLE_DECIMAL.fullmatch(text):
            digits = match[1]
        else:
            raise CellError(_why_not_whole(text))
        # int() refuses very long digit strings; anything that long is over any limit anyway.
        if len(digits) > len(str(self._max_quantity)) + 1:
            raise CellError(f"more than the limit of {self._max_quantity:,}: {show(text)}")
        return self._quantity_range(int(digits), text)

    def _quantity_range(self, quantity: int, text: str) -> int:
        if quantity <= 0:
            raise CellError(f"must be more than 0: {show(text)}")
        if quantity > self._max_quantity:
            raise CellError(f"more than the limit of {self._max_quantity:,}: {show(text)}")
        return quantity

    def _occurred_at(self, value: object) -> tuple[datetime | None, str]:
        """The time in UTC and its ISO text (part of derived keys); (None, "") when empty."""
        if type(value) is str:
            text = self._text(value)
            if text is None:
                _remember(self._moments, "", NO_MOMENT)
                return NO_MOMENT
            known = self._moments.get(text)
            if known is not None:
                return known
            moment = parse_local(text)
            if moment is None:
                raise CellError(
                    f"not a date: {show(text)} (write 2019-04-15, 2019-04-15 10:30,"
                    " 2019/4/15 or 2019年4月15日)"
                )
        elif value is None:
            return NO_MOMENT
        elif isinstance(value, date):
            known = self._cell_moments.get(value)
            if known is not None:
                return known
            moment = value if isinstance(value, datetime) else datetime.combine(value, time())
        else:
            raise CellError(f"not a date: {show(cell_text(value))}")
        try:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self._timezone)
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise CellError(f"not a date: {show(cell_text(value))}") from None
        if self._window is not None and not self._window[0] <= moment < self._window[1]:
            raise CellError(self._outside)
        parsed: tuple[datetime | None, str] = (moment, moment.isoformat())
        if type(value) is str:
            _remember(self._moments, value.strip(), parsed)
        else:
            _remember(self._cell_moments, value, parsed)
        return parsed


def _remember(cache: dict[_K, _T], key: _K, value: _T) -> None:
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _why_not_whole(text: str) -> str:
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return f"not a whole number: {show(text)}"
    if math.isfinite(number) and number <= 0:
        return f"must be more than 0: {show(text)}"
    return f"not a whole number: {show(text)}"
