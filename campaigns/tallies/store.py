"""Recording tallies: validation against the campaign, idempotent bulk storage, running totals.

Every tally carries a key unique within its campaign; storing is insert-or-ignore on that
key, so a tally sent twice (a retried task, a file imported again) counts once. The rollups
(per metric and day, per metric and venue) are updated in the same transaction from exactly
the rows that were inserted, so totals never drift from the tally rows and never need a scan
of them.

Tallies travel column by column (`TallyColumns`: one list of texts per field) and are stored
with one statement per chunk: on PostgreSQL a single `INSERT ... SELECT FROM unnest(...)
ON CONFLICT DO NOTHING` whose RETURNING rows feed both rollup upserts in the same statement;
on SQLite an `executemany` under the write lock, after which the new rows are exactly those
above the highest id seen before, and are folded into each rollup by one `INSERT ... SELECT
... GROUP BY`. Either way no Python code runs per tally in the worker.

A chunk published for a `TallyBatch` leaves a `TallyBatchChunk` row in its transaction: a
redelivered chunk finds it and does nothing, and `--wait` counts those rows, not tallies.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, text
from sqlmodel import Session, select

from campaigns.errors import ConflictError, InvalidInputError, NotFoundError
from campaigns.models import (
    Campaign,
    CampaignStatus,
    DayRollup,
    TallyBatch,
    TallyBatchChunk,
    utcnow,
)
from campaigns.tallies.sweeper import forget_pending

ACCEPTING = {CampaignStatus.scheduled, CampaignStatus.running, CampaignStatus.closed}

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
)
# Values are joined into one text per column: a line break separates them and a carriage
# return stands for "no value". Validation refuses control characters in every field, so
# neither can occur inside a value (`encode_column` checks anyway).
_SEPARATOR = "\n"
_NULL = "\r"
_NULL_OF: dict[str | None, str] = {None: _NULL}
_NONE_OF: dict[str, None] = {_NULL: None}
_PG_TYPES = {
    "quantity": "bigint",
    "occurred_at": "timestamp",
    "day": "date",
    "is_correction": "boolean",
}

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
        return {"u": _join(uniques), "i": _SEPARATOR.join(map(index.__getitem__, values))}
    return {"v": _join(values)}


def encode_chunk(columns: Mapping[str, Sequence[str | None]], *, source: str) -> dict[str, Any]:
    """The broker message of one chunk (JSON-safe)."""
    count = len(columns["key"])
    if any(len(columns[field]) != count for field in FIELDS):
        raise ValueError("columns of one chunk differ in length")
    return {
        "n": count,
        "source": source,
        "columns": {field: encode_column(columns[field]) for field in FIELDS},
    }


def _join(values: Iterable[str | None]) -> str:
    return _SEPARATOR.join(map(_NULL_OF.get, values, values))  # type: ignore[arg-type]


def _split(joined: str) -> list[str | None]:
    parts = joined.split(_SEPARATOR)
    return list(map(_NONE_OF.get, parts, parts))


def _decode(encoded: Mapping[str, Any], count: int) -> tuple[str | None, list[str | None] | None]:
    """(the value, None) for a constant column, else (None, the values)."""
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


def check_accepting(campaign: Campaign) -> None:
    if campaign.status == CampaignStatus.reported:
        raise ConflictError(
            f"campaign {campaign.id!r} is reported: reopen it first (`campaigns reopen`)"
        )
    if campaign.status not in ACCEPTING:
        raise ConflictError(f"campaign {campaign.id!r} is {campaign.status}: no tallies accepted")


def check_within(campaign: Campaign, occurred_at: datetime, *, where: str) -> None:
    if not campaign.start_at <= occurred_at < campaign.end_at:
        zone = ZoneInfo(campaign.timezone)
        start = campaign.start_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        end = campaign.end_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        shown = occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        raise InvalidInputError(f"{where}: {shown} is outside the campaign ({start} – {end})")


def check_quantity(quantity: int, *, correction: bool, where: str) -> None:
    if correction:
        if quantity == 0:
            raise InvalidInputError(f"{where}: a correction of 0 changes nothing")
    elif quantity <= 0:
        raise InvalidInputError(f"{where}: quantity must be a positive whole number")
    if abs(quantity) > 10**12:
        raise InvalidInputError(f"{where}: quantity {quantity} is implausibly large")


def store_tallies(campaign: Campaign, tallies: Sequence[NewTally], *, session: Session) -> int:
    """Insert the tallies not stored before and add them to the rollups; returns how many."""
    if not tallies:
        return 0
    columns, source = to_columns(tallies, ZoneInfo(campaign.timezone))
    return store_chunk(campaign.id, encode_chunk(columns, source=source), session=session).stored


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    tallies: int
    # New tallies; the rest had been stored before.
    stored: int
    refused: str | None = None
    # The chunk had been dealt with before (a redelivered message): nothing was done.
    repeated: bool = False


def store_chunk(
    campaign_id: str,
    chunk: Mapping[str, Any],
    *,
    session: Session,
    batch: tuple[str, int] | None = None,
    now: datetime | None = None,
) -> ChunkOutcome:
    """Store one chunk in the session's transaction: tallies, rollups and, for a chunk of a
    batch (`batch=(batch_id, seq)`), its done marker.

    The campaign is read with a share lock (PostgreSQL; SQLite holds the write lock already),
    so a campaign cannot become reported between this check and the commit. A campaign that
    no longer accepts tallies refuses the chunk: recorded in the marker, or raised without one.
    """
    now = now or utcnow()
    count = int(chunk["n"])
    dialect = session.get_bind().dialect.name
    if batch is not None:
        done = session.get(TallyBatchChunk, batch)
        if done is not None:
            return ChunkOutcome(done.tallies, done.stored, done.refused, repeated=True)
    campaign = session.exec(
        select(Campaign).where(Campaign.id == campaign_id).with_for_update(read=True)
    ).first()
    refused: str | None = None
    if campaign is None:
        raise NotFoundError(f"unknown campaign {campaign_id!r}")
    try:
        check_accepting(campaign)
    except ConflictError as exc:
        if batch is None:
            raise
        refused = str(exc)
    stored = 0
    if refused is None and count:
        columns = {field: _decode(chunk["columns"][field], count) for field in FIELDS}
        if dialect == "postgresql":
            stored = _store_postgresql(session, campaign_id, columns, chunk["source"], now)
        else:
            stored = _store_sqlite(session, campaign_id, columns, chunk["source"], count, now)
    if batch is not None:
        session.add(
            TallyBatchChunk(
                batch_id=batch[0],
                seq=batch[1],
                tallies=count,
                stored=stored,
                refused=refused,
                done_at=now,
            )
        )
        forget_pending(batch[0], batch[1], session=session)
        session.flush()
    return ChunkOutcome(count, stored, refused)


_TALLY_COLUMNS = ", ".join(("campaign_id", *FIELDS, "source", "created_at"))
_ADD_TO_TOTALS = (
    "DO UPDATE SET total = {table}.total + excluded.total,"
    " tallies = {table}.tallies + excluded.tallies"
)
_DAY_KEY = "campaign_id, metric, day, is_correction"
_DAY_UPDATE = f"ON CONFLICT ({_DAY_KEY}) " + _ADD_TO_TOTALS.format(table="tally_day_rollup")
_VENUE_KEY = "campaign_id, metric, venue"
_VENUE_UPDATE = f"ON CONFLICT ({_VENUE_KEY}) " + _ADD_TO_TOTALS.format(table="tally_venue_rollup")


def _store_postgresql(
    session: Session,
    campaign_id: str,
    columns: Mapping[str, tuple[str | None, list[str | None] | None]],
    source: str,
    now: datetime,
) -> int:
    params: dict[str, Any] = {"campaign": campaign_id, "source": source, "now": utc_text(now)}
    unnested: list[str] = []
    selected: list[str] = []
    for field in FIELDS:
        constant, values = columns[field]
        cast = f"::{_PG_TYPES.get(field, 'text')}"
        if values is None:
            params[field] = constant
            selected.append(f"CAST(:{field} AS {cast[2:]})")
        else:
            params[field] = _join(values)
            unnested.append(f"string_to_array(:{field}, E'\\n', E'\\r')")
            selected.append(f"u.{field}{cast}")
    source_rows = (
        f" FROM unnest({', '.join(unnested)}) AS u("
        + ", ".join(f for f in FIELDS if columns[f][1] is not None)
        + ")"
        if unnested
        else ""
    )
    # One statement: insert-or-ignore, and fold exactly the inserted rows into both rollups
    # (each in key order, and both in the same order in every worker, as every worker runs
    # this one statement shape, so two workers never wait on each other's rollup rows in a
    # cycle; byte order, which sorts faster than the database's collation and serves as well).
    statement = f"""
        WITH inserted AS (
            INSERT INTO tally ({_TALLY_COLUMNS})
            SELECT :campaign, {", ".join(selected)}, :source, CAST(:now AS timestamp){source_rows}
            ON CONFLICT (campaign_id, key) DO NOTHING
            RETURNING metric, day, venue, is_correction, quantity
        ), by_day AS (
            INSERT INTO tally_day_rollup ({_DAY_KEY}, total, tallies)
            SELECT :campaign, metric, day, is_correction, sum(quantity), count(*)
            FROM inserted GROUP BY 1, 2, 3, 4
            ORDER BY metric COLLATE "C", day, is_correction
            {_DAY_UPDATE}
        ), by_venue AS (
            INSERT INTO tally_venue_rollup ({_VENUE_KEY}, total, tallies)
            SELECT :campaign, metric, coalesce(venue, ''), sum(quantity), count(*)
            FROM inserted GROUP BY 1, 2, 3
            ORDER BY metric COLLATE "C", coalesce(venue, '') COLLATE "C"
            {_VENUE_UPDATE}
        )
        SELECT count(*) FROM inserted
    """
    return int(session.execute(text(statement), params).scalar_one())


# The new rows are read by rowid range. The campaign is a parameter, not a column to group by:
# grouping by campaign_id led SQLite to walk the whole (campaign_id, key) index instead, a cost
# that grew with the table (125 ms a chunk at 1,000,000 rows).
SQLITE_DAY_ROLLUP = (
    f"INSERT INTO tally_day_rollup ({_DAY_KEY}, total, tallies)"
    " SELECT ?, metric, day, is_correction, sum(quantity), count(*)"
    " FROM tally WHERE id > ? GROUP BY metric, day, is_correction " + _DAY_UPDATE
)
SQLITE_VENUE_ROLLUP = (
    f"INSERT INTO tally_venue_rollup ({_VENUE_KEY}, total, tallies)"
    " SELECT ?, metric, coalesce(venue, ''), sum(quantity), count(*)"
    " FROM tally WHERE id > ? GROUP BY metric, coalesce(venue, '') " + _VENUE_UPDATE
)


def _store_sqlite(
    session: Session,
    campaign_id: str,
    columns: Mapping[str, tuple[str | None, list[str | None] | None]],
    source: str,
    count: int,
    now: datetime,
) -> int:
    connection = session.connection().connection.driver_connection
    assert connection is not None
    iterables: list[Iterable[Any]] = [repeat(campaign_id, count)]
    for field in FIELDS:
        constant, values = columns[field]
        if field in ("quantity", "is_correction"):
            # Integer columns: bind ints, as the ORM would.
            if values is None:
                iterables.append(repeat(None if constant is None else int(constant), count))
            else:
                iterables.append(map(int, values))  # type: ignore[arg-type]
        else:
            iterables.append(repeat(constant, count) if values is None else values)
    iterables += [repeat(source, count), repeat(utc_text(now), count)]
    cursor = connection.cursor()
    try:
        # The write lock is held (BEGIN IMMEDIATE) and ids only grow, so the new rows are
        # exactly those above the highest id before the insert.
        (highest,) = cursor.execute("SELECT coalesce(max(id), 0) FROM tally").fetchone()
        before = connection.total_changes
        placeholders = ", ".join("?" * (len(FIELDS) + 3))
        cursor.executemany(
            f"INSERT INTO tally ({_TALLY_COLUMNS}) VALUES ({placeholders})"
            " ON CONFLICT (campaign_id, key) DO NOTHING",
            zip(*iterables, strict=True),
        )
        stored = connection.total_changes - before
        if stored:
            cursor.execute(SQLITE_DAY_ROLLUP, (campaign_id, highest))
            cursor.execute(SQLITE_VENUE_ROLLUP, (campaign_id, highest))
    finally:
        cursor.close()
    return int(stored)


def begin_batch(
    campaign_id: str,
    *,
    session: Session,
    source: str,
    tallies: int,
    chunks: int,
    actor: str,
    digest: str | None = None,
) -> TallyBatch:
    batch = TallyBatch(
        id=uuid.uuid4().hex,
        campaign_id=campaign_id,
        source=source[:200],
        digest=digest,
        tallies=tallies,
        chunks=chunks,
        actor=actor[:200],
        created_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    return batch


def mark_published(batch_id: str, *, session: Session) -> None:
    batch = session.get(TallyBatch, batch_id)
    if batch is not None:
        batch.published_at = utcnow()
        session.add(batch)


@dataclass(frozen=True, slots=True)
class BatchProgress:
    chunks: int
    chunks_done: int
    tallies: int
    tallies_done: int
    stored: int
    refused: str | None

    @property
    def complete(self) -> bool:
        return self.chunks_done >= self.chunks

    @property
    def already_counted(self) -> int:
        return self.tallies_done - self.stored


def batch_progress(batch_id: str, *, session: Session) -> BatchProgress:
    """How far the workers are with a batch: one aggregate over its chunk markers."""
    batch = session.get(TallyBatch, batch_id)
    if batch is None:
        raise ValueError(f"no tally batch {batch_id!r}")
    done, tallies, stored, refused = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(TallyBatchChunk.tallies), 0),
            func.coalesce(func.sum(TallyBatchChunk.stored), 0),
            func.max(TallyBatchChunk.refused),
        ).where(TallyBatchChunk.batch_id == batch_id)
    ).one()
    return BatchProgress(batch.chunks, int(done), batch.tallies, int(tallies), int(stored), refused)


def completed_import(campaign_id: str, digest: str, *, session: Session) -> TallyBatch | None:
    """An earlier batch of the same file whose every chunk is stored, if there is one."""
    batches = session.exec(
        select(TallyBatch).where(TallyBatch.campaign_id == campaign_id, TallyBatch.digest == digest)
    ).all()
    for batch in sorted(batches, key=lambda b: b.created_at):
        if batch.published_at is not None and batch_progress(batch.id, session=session).complete:
            return batch
    return None


@dataclass(frozen=True, slots=True)
class MetricTotal:
    total: int
    tallies: int
    corrections: int


def totals(campaign_id: str, *, session: Session) -> dict[str, MetricTotal]:
    """Per metric: net total (corrections included), tally count and the corrections' sum."""
    query = (
        select(
            DayRollup.metric,
            DayRollup.is_correction,
            func.sum(DayRollup.total),
            func.sum(DayRollup.tallies),
        )
        .where(DayRollup.campaign_id == campaign_id)
        .group_by(DayRollup.metric, DayRollup.is_correction)  # type: ignore[arg-type]
    )
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for metric, is_correction, total, count in session.exec(query):
        acc[metric][0] += int(total)
        if is_correction:
            acc[metric][2] += int(total)
        else:
            acc[metric][1] += int(count)
    return {metric: MetricTotal(*values) for metric, values in sorted(acc.items())}
