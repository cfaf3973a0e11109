"""How tallies travel to the workers: `NewTally`, tallies as columns, and chunk messages.

Tallies travel column by column (`TallyColumns`: one list of texts per field, in the order of
the `tally` table's columns) in a compact JSON-safe chunk (`encode_chunk`): a column whose
values are all the same is sent as one value, a column of few repeating values as those values
and an index each. The worker decodes each column (`decode_column`) for the statement that
stores the chunk (`campaigns.tallies.store`).

A batch that is the report of reporting units (an import for them, a `log --final`) names
their codes in each of its chunks (`reports_for`): whichever worker stores the batch's last
chunk marks them reported, and a chunk the sweeper publishes again still says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

# The fields of a tally as they travel, in the order of the `tally` table's columns.
FIELDS = (
    "metric",
    "quantity",
    "item",
    "venue",
    "occurred_at",
    "day",
    "recorded_by",
    "key",
    "note",
    "is_correction",
    "reason",
    # Last: a chunk sent before units existed has no such column and decodes as no unit.
    "unit",
)
# Values are joined into one text per column: a line break separates them and a carriage
# return stands for "no value". Validation refuses control characters in every field, so
# neither can occur inside a value (`encode_column` checks anyway).
_SEPARATOR = "\n"
_NULL = "\r"
_NULL_OF: dict[str | None, str] = {None: _NULL}
_NONE_OF: dict[str, None] = {_NULL: None}

TallyColumns = dict[str, list[str | None]]
"""One list per field of `FIELDS`, all of one length; times as `utc_text`, days ISO."""


@dataclass(frozen=True, slots=True)
class NewTally:
    metric: str
    quantity: int
    occurred_at: datetime
    key: str
    item: str | None = None
    venue: str | None = None
    recorded_by: str | None = None
    note: str | None = None
    is_correction: bool = False
    reason: str | None = None
    source: str = "cli"
    # The reporting unit's code; None: the organiser's own bureau.
    unit: str | None = None

    def to_message(self) -> dict[str, Any]:
        """JSON-safe form for the broker."""
        return {
            "metric": self.metric,
            "quantity": self.quantity,
            "occurred_at": self.occurred_at.isoformat(),
            "key": self.key,
            "item": self.item,
            "venue": self.venue,
            "recorded_by": self.recorded_by,
            "note": self.note,
            "is_correction": self.is_correction,
            "reason": self.reason,
            "source": self.source,
            "unit": self.unit,
        }

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> NewTally:
        return cls(**{**data, "occurred_at": datetime.fromisoformat(data["occurred_at"])})


def utc_text(moment: datetime) -> str:
    """A time as both databases store it here: naive UTC, `YYYY-MM-DD HH:MM:SS.ffffff`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def to_columns(tallies: Sequence[NewTally], zone: ZoneInfo) -> tuple[TallyColumns, str]:
    """Tallies one by one as columns, and their (single) source."""
    sources = {t.source for t in tallies}
    if len(sources) > 1:
        raise ValueError("tallies of one chunk come from one source")
    columns: TallyColumns = {field: [] for field in FIELDS}
    for t in tallies:
        columns["metric"].append(t.metric)
        columns["quantity"].append(str(t.quantity))
        columns["item"].append(t.item)
        columns["venue"].append(t.venue)
        columns["occurred_at"].append(utc_text(t.occurred_at))
        columns["day"].append(t.occurred_at.astimezone(zone).date().isoformat())
        columns["recorded_by"].append(t.recorded_by)
        columns["key"].append(t.key)
        columns["note"].append(t.note)
        columns["is_correction"].append("1" if t.is_correction else "0")
        columns["reason"].append(t.reason)
        columns["unit"].append(t.unit)
    return columns, sources.pop() if sources else "cli"


def encode_column(values: Sequence[str | None]) -> dict[str, Any]:
    """A column in its compact broker form: {"c": value} when all values are the same,
    {"u": uniques, "i": indexes} when few distinct values repeat, else {"v": values}."""
    uniques = list(dict.fromkeys(values))
    joined = "".join(filter(None, uniques))
    if _SEPARATOR in joined or _NULL in joined:
        raise ValueError("a tally value contains a line break")
    if len(uniques) == 1:
        return {"c": uniques[0]}
    if 4 * len(uniques) <= len(values):
        index = {value: str(i) for i, value in enumerate(uniques)}
        return {"u": join_values(uniques), "i": _SEPARATOR.join(map(index.__getitem__, values))}
    return {"v": join_values(values)}


def encode_chunk(
    columns: Mapping[str, Sequence[str | None]], *, source: str, reports_for: Sequence[str] = ()
) -> dict[str, Any]:
    """The broker message of one chunk (JSON-safe); `reports_for`: see the module."""
    count = len(columns["key"])
    if any(len(columns[field]) != count for field in FIELDS):
        raise ValueError("columns of one chunk differ in length")
    chunk: dict[str, Any] = {
        "n": count,
        "source": source,
        "columns": {field: encode_column(columns[field]) for field in FIELDS},
    }
    if reports_for:
        chunk["reports_for"] = list(reports_for)
    return chunk


def join_values(values: Iterable[str | None]) -> str:
    return _SEPARATOR.join(map(_NULL_OF.get, values, values))  # type: ignore[arg-type]


def _split(joined: str) -> list[str | None]:
    parts = joined.split(_SEPARATOR)
    return list(map(_NONE_OF.get, parts, parts))


def decode_column(
    encoded: Mapping[str, Any] | None, count: int
) -> tuple[str | None, list[str | None] | None]:
    """(the value, None) for a constant column, else (None, the values); a column the
    chunk lacks (`unit`, in a chunk published before it existed) is a constant None."""
    if encoded is None:
        return None, None
    if "c" in encoded:
        return encoded["c"], None
    if "u" in encoded:
        uniques = _split(encoded["u"])
        values = list(map(uniques.__getitem__, map(int, encoded["i"].split(_SEPARATOR))))
    else:
        values = _split(encoded["v"])
    if len(values) != count:
        raise ValueError(f"a column has {len(values)} values, not {count}")
    return None, values
