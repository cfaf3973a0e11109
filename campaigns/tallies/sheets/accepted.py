"""The rows an import accepts: `TallyRow`, and `AcceptedRows`, the same rows held as columns.

Derived keys are made here, from the campaign, a row's values and its number: importing the
same file twice gives the same keys (so it counts once), and two identical rows at different
positions are two tallies. A tally's `place` is part of its key when it is not empty: the
column of a wide sheet's cell and the sheet (but for the first), so that the cells of one row,
and the same row of two sheets, are tallies of their own; CSV files and the first sheet of a
long workbook keep the keys they always had. So does a row without a reporting unit; a row
with one has it in its key (its code once the import has resolved the texts, `unit_codes`),
so that the same sheet sent for two units is two units' tallies.
"""

from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from dataclasses import field as dataclass_field
from datetime import datetime
from functools import partial
from hashlib import blake2b
from itertools import repeat

from campaigns.tallies.sheets.cells import CACHE_LIMIT


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
    unit: str | None
    key: str


# Set the slots of a TallyRow made with object.__new__: a dataclass(frozen=True) __init__
# goes through object.__setattr__ per field, which would cost more than all checks of a row.
_FIELD_NAMES = tuple(field.name for field in fields(TallyRow))
_SLOTS = tuple(getattr(TallyRow, name).__set__ for name in _FIELD_NAMES)
_KEY_SEPARATOR = "\x1f"  # a control character, so never inside an accepted cell
_blake2b_16 = partial(blake2b, digest_size=16)
_EMPTY_IF_NONE: dict[None, str] = {None: ""}
# The per-row columns of `AcceptedRows`.
_COLUMNS = (*_FIELD_NAMES[:-2], "given_key", "place", "unit")


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
    # Where in the file beyond the row: "" for CSV and a long first sheet, else the sheet
    # (but for the first) and a wide sheet's column, such as "E" or "浚县!E".
    place: list[str] = dataclass_field(default_factory=list)
    # The reporting unit as the row's 单位 cell writes it (None: no such cell, or empty).
    unit: list[str | None] = dataclass_field(default_factory=list)
    campaign_id: str = ""
    # Where each sheet's unit cells are, for errors: (first position, sheet, column as written).
    unit_columns: list[tuple[int, str | None, str]] = dataclass_field(default_factory=list)
    # Unit text -> the unit's code, once the import has resolved them against the units
    # kept in the database (`campaigns.tallies.row_units`); None -> the unit of the whole file.
    # Empty until then: each text stands for itself.
    unit_codes: dict[str | None, str | None] = dataclass_field(default_factory=dict)
    # Times as ISO text, as keys spell them (bounded like the caches of validation).
    _isos: dict[datetime | None, str] = dataclass_field(
        default_factory=dict, compare=False, repr=False
    )

    def __len__(self) -> int:
        return len(self.row)

    def units(self, start: int = 0, stop: int | None = None) -> list[str | None]:
        """The units of rows [start:stop]: their codes once resolved, else as written."""
        part = self.unit[start:stop]
        codes = self.unit_codes
        if not codes:
            return part
        return list(map(codes.get, part))

    def unit_cell(self, position: int) -> tuple[str | None, str]:
        """The sheet and unit column (as written) of the row at `position`, for its errors."""
        firsts = [first for first, _, _ in self.unit_columns]
        _, sheet, column = self.unit_columns[max(bisect_right(firsts, position) - 1, 0)]
        return sheet, column

    def drop(self, positions: set[int]) -> None:
        """Leave out the rows at `positions` (rows found bad after reading, by their unit)."""
        if not positions:
            return
        kept = [i for i in range(len(self.row)) if i not in positions]
        for name in _COLUMNS:
            column = getattr(self, name)
            setattr(self, name, [column[i] for i in kept])
        # A sheet's unit cells now start where its first kept row is.
        self.unit_columns = [
            (bisect_left(kept, first), sheet, column) for first, sheet, column in self.unit_columns
        ]

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
        if len(isos) >= CACHE_LIMIT:
            isos.clear()
        for moment in set(moments).difference(isos):
            isos[moment] = moment.isoformat() if moment else ""

        def texts(column: list[str | None]) -> Iterator[str]:
            part = column[start:stop]
            return map(_EMPTY_IF_NONE.get, part, part)  # type: ignore[arg-type]

        numbers: Iterator[str] = map(str, self.row[start:stop])
        places = self.place[start:stop]
        units = self.units(start, stop)
        if any(units):
            numbers = map(_with_unit, numbers, places, units)
        elif any(places):
            numbers = map(_positioned, numbers, places)

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
                            numbers,
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
        columns = [
            self.units(start, stop) if name == "unit" else getattr(self, name)[start:stop]
            for name in _FIELD_NAMES[:-1]
        ]
        columns.append(self.keys(start, stop))
        with collector_paused():
            tallies = list(map(object.__new__, repeat(TallyRow, len(columns[0]))))
            for set_field, values in zip(_SLOTS, columns, strict=True):
                deque(map(set_field, tallies, values), maxlen=0)
        return tallies


def _positioned(number: str, place: str) -> str:
    return f"{number}{_KEY_SEPARATOR}{place}" if place else number


def _with_unit(number: str, place: str, unit: str | None) -> str:
    # Never the text of a place alone: the unit has a separator of its own, even without one.
    if not unit:
        return _positioned(number, place)
    return f"{number}{_KEY_SEPARATOR}{place}{_KEY_SEPARATOR}{unit}"


@contextmanager
def collector_paused() -> Iterator[None]:
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
