"""Storing tallies: idempotent bulk storage of a chunk, with the rollups kept in step.

Every tally carries a key unique within its campaign; storing is insert-or-ignore on that
key, so a tally sent twice (a retried task, a file imported again) counts once. The rollups
(per metric and day, per metric and venue, per metric and reporting unit) are updated in the
same transaction from exactly the rows that were inserted, so totals never drift from the
tally rows and never need a scan of them.

A chunk (`campaigns.tallies.encoding`) is stored with one statement: on PostgreSQL a single
`INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING` whose RETURNING rows feed both
rollup upserts in the same statement; on SQLite an `executemany` under the write lock, after
which the new rows are exactly those above the highest id seen before, and are folded into each
rollup by one `INSERT ... SELECT ... GROUP BY`. Either way no Python code runs per tally in the
worker.

A chunk published for a `TallyBatch` leaves a `TallyBatchChunk` row in its transaction: a
redelivered chunk finds it and does nothing, and `--wait` counts those rows, not tallies. The
last chunk of a batch that is units' report marks them reported in the same transaction
(`batches.report_if_complete`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import Session, select

from campaigns.errors import ConflictError, NotFoundError
from campaigns.models import Campaign, CampaignStatus, TallyBatchChunk, utcnow
from campaigns.tallies.batches import report_if_complete
from campaigns.tallies.checks import check_accepting
from campaigns.tallies.encoding import (
    FIELDS,
    NewTally,
    decode_column,
    encode_chunk,
    join_values,
    to_columns,
    utc_text,
)
from campaigns.tallies.sweeper import forget_pending

# The PostgreSQL type each column's text is cast to (text where not named).
_PG_TYPES = {
    "quantity": "bigint",
    "occurred_at": "timestamp",
    "day": "date",
    "is_correction": "boolean",
}


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
    # Units newly reported by this chunk, the last of their batch (`batches.report_if_complete`).
    reported: tuple[str, ...] = ()
    # The campaign was closed when the chunk was stored: a newly complete report may make its
    # final summary due (the worker queues the compile once this has committed).
    closed: bool = False


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
        if dialect == "postgresql":
            # Two copies of one chunk (a retry and the sweep's, say) take turns here, so the
            # second finds the first's marker instead of failing on it. SQLite's write lock
            # already makes them take turns.
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:chunk, 0))"),
                {"chunk": f"tally-chunk:{batch[0]}:{batch[1]}"},
            )
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
        columns = {field: decode_column(chunk["columns"].get(field), count) for field in FIELDS}
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
        units = chunk.get("reports_for")
        if units and refused is None:
            reported = report_if_complete(campaign_id, batch[0], units, session=session, now=now)
            closed = campaign.status == CampaignStatus.closed
            return ChunkOutcome(count, stored, refused, reported=tuple(reported), closed=closed)
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
_UNIT_KEY = "campaign_id, metric, unit"
_UNIT_UPDATE = f"ON CONFLICT ({_UNIT_KEY}) " + _ADD_TO_TOTALS.format(table="tally_unit_rollup")


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
            params[field] = join_values(values)
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
            RETURNING metric, day, venue, is_correction, quantity, unit
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
        ), by_unit AS (
            INSERT INTO tally_unit_rollup ({_UNIT_KEY}, total, tallies)
            SELECT :campaign, metric, coalesce(unit, ''), sum(quantity), count(*)
            FROM inserted GROUP BY 1, 2, 3
            ORDER BY metric COLLATE "C", coalesce(unit, '') COLLATE "C"
            {_UNIT_UPDATE}
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
SQLITE_UNIT_ROLLUP = (
    f"INSERT INTO tally_unit_rollup ({_UNIT_KEY}, total, tallies)"
    " SELECT ?, metric, coalesce(unit, ''), sum(quantity), count(*)"
    " FROM tally WHERE id > ? GROUP BY metric, coalesce(unit, '') " + _UNIT_UPDATE
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
            cursor.execute(SQLITE_UNIT_ROLLUP, (campaign_id, highest))
    finally:
        cursor.close()
    return int(stored)
