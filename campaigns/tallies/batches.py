"""Tally batches: the record of one publication (an import, a logged tally) and its progress.

A batch row is committed before its first chunk is published; each chunk stored leaves a
`TallyBatchChunk` marker, so how far the workers are is one aggregate over the markers, and an
earlier complete batch of the same file (by digest) says the file was imported already. A
logged tally's batch keeps the tally's key, which a repeat of the same log reuses
(`campaigns.tallies.repeats`).

A batch that is the report of reporting units (its chunks name them: `encoding`) marks them
reported in the transaction that stores its last chunk (`report_if_complete`), and records
them as its `reports_for`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, text
from sqlmodel import Session, select

from campaigns.models import ReportHow, TallyBatch, TallyBatchChunk, utcnow
from campaigns.planning.participants import mark_reported


def begin_batch(
    campaign_id: str,
    *,
    session: Session,
    source: str,
    tallies: int,
    chunks: int,
    actor: str,
    digest: str | None = None,
    tally_key: str | None = None,
    now: datetime | None = None,
) -> TallyBatch:
    """A new batch, flushed; `tally_key` is the key of a `log`'s one tally (see `repeats`)."""
    batch = TallyBatch(
        id=uuid.uuid4().hex,
        campaign_id=campaign_id,
        source=source[:200],
        digest=digest,
        tallies=tallies,
        chunks=chunks,
        actor=actor[:200],
        created_at=now or utcnow(),
        tally_key=tally_key,
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


def report_if_complete(
    campaign_id: str,
    batch_id: str,
    units: Sequence[str],
    *,
    session: Session,
    now: datetime,
) -> list[str]:
    """Once every chunk of the batch is stored (this one's marker flushed), mark `units`
    reported as imported; returns those newly reported (none before the last chunk).

    The workers storing a batch's chunks take turns here (a transaction lock on PostgreSQL;
    SQLite's write lock already), so of two storing its last two chunks at once the second
    sees the first's marker: one of them finds the batch complete. `mark_reported` is itself
    a compare-and-set, so a batch found complete twice still reports once.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:batch, 0))"),
            {"batch": f"tally-batch:{batch_id}"},
        )
    batch = session.get(TallyBatch, batch_id)
    if batch is None:
        return []
    done, refused = session.execute(
        select(func.count(), func.max(TallyBatchChunk.refused)).where(
            TallyBatchChunk.batch_id == batch_id
        )
    ).one()
    if int(done) < batch.chunks or refused is not None:
        return []
    codes = sorted(set(units))
    batch.reports_for = json.dumps(codes, ensure_ascii=False)
    session.add(batch)
    # In code order, as every worker does: two batches reporting the same units never wait
    # on each other's participant rows in a cycle.
    return mark_reported(
        campaign_id, codes, how=ReportHow.imported, session=session, actor=batch.actor, now=now
    )
