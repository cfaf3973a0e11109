"""Published tally chunks the database still waits for, and the sweep that re-publishes them.

The CLI keeps each chunk here (zlib-compressed) in a transaction committed before the chunk
goes to the broker; the worker deletes it in the transaction that stores the chunk. So a row
here is a chunk not yet counted.

Every worker publishes a sweep message every few seconds (workers.sweep_clock). The queue is
first in, first out, so when a sweep runs, every chunk published before that sweep message
has been handed to some worker: if it is still here `CAMPAIGNS_SWEEP_AFTER_SECONDS` after it
was published, the worker holding it died (its copy comes back from Redis only after the
visibility timeout) or the broker lost it (kombu's BRPOP window, a Redis without
persistence). It is published again. A chunk that was only slow is then stored once anyway
(its batch marker makes the second copy a no-op). Chunks still waiting in a long queue
behind the sweep message are left alone, however old: a backlog is not a loss.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from campaigns.models import TallyChunkPending, utcnow


def keep_pending(
    campaign_id: str,
    batch_id: str,
    chunks: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    session: Session,
) -> None:
    now = utcnow()
    session.add_all(
        TallyChunkPending(
            batch_id=batch_id,
            seq=seq,
            campaign_id=campaign_id,
            payload=zlib.compress(json.dumps(chunk, separators=(",", ":")).encode(), 1),
            created_at=now,
        )
        for seq, chunk in chunks
    )


def forget_pending(batch_id: str, seq: int, *, session: Session) -> None:
    session.execute(
        delete(TallyChunkPending).where(
            col(TallyChunkPending.batch_id) == batch_id, col(TallyChunkPending.seq) == seq
        )
    )


@dataclass(frozen=True)
class LostChunk:
    campaign_id: str
    batch_id: str
    seq: int
    chunk: dict[str, Any]


def lost_chunks(
    *,
    session: Session,
    handed_out_before: datetime,
    older_than: timedelta,
    now: datetime | None = None,
    limit: int = 500,
) -> list[LostChunk]:
    """Chunks published (or last re-published) before `handed_out_before`, the time the
    sweep message was published, and more than `older_than` ago."""
    now = now or utcnow()
    waited_since = func.coalesce(
        col(TallyChunkPending.requeued_at), col(TallyChunkPending.created_at)
    )
    rows = session.exec(
        select(TallyChunkPending)
        .where(waited_since <= min(now - older_than, handed_out_before))
        .order_by(col(TallyChunkPending.batch_id), col(TallyChunkPending.seq))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    lost = []
    for row in rows:
        row.requeued_at = now
        session.add(row)
        lost.append(
            LostChunk(
                row.campaign_id, row.batch_id, row.seq, json.loads(zlib.decompress(row.payload))
            )
        )
    return lost
