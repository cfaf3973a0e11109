"""Tally batches: the record of one publication (an import, a logged tally) and its progress.

A batch row is committed before its first chunk is published; each chunk stored leaves a
`TallyBatchChunk` marker, so how far the workers are is one aggregate over the markers, and an
earlier complete batch of the same file (by digest) says the file was imported already. A
logged tally's batch keeps the tally's key, which a repeat of the same log reuses
(`campaigns.tallies.repeats`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from campaigns.models import TallyBatch, TallyBatchChunk, utcnow


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
