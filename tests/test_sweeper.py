"""The tally sweep: which pending chunks count as lost, and a worker that sweeps on its own.

Real databases (SQLite file, PostgreSQL); the last test runs a real worker process on a real
Redis with no beat, to show the worker itself brings back a chunk the broker never had.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from campaigns.models import Tally, TallyChunkPending, utcnow
from campaigns.tallies.batches import begin_batch
from campaigns.tallies.encoding import NewTally, encode_chunk, to_columns
from campaigns.tallies.sweeper import keep_pending, lost_chunks
from tests.conftest import Env, create_running_campaign

CAMPAIGN = "ip-week"


def _chunk(*keys: str) -> dict[str, object]:
    tallies = [NewTally(metric="boards", quantity=2, occurred_at=utcnow(), key=k) for k in keys]
    columns, source = to_columns(tallies, ZoneInfo("Asia/Shanghai"))
    return encode_chunk(columns, source=source)


def _pending(env: Env, chunks: int, *, published_seconds_ago: float) -> str:
    """A batch whose chunks were kept pending but (as if the broker lost them) never stored."""
    with env.session() as session:
        batch_id = begin_batch(
            CAMPAIGN, session=session, source="test", tallies=chunks, chunks=chunks, actor="t"
        ).id
        keep_pending(
            CAMPAIGN,
            batch_id,
            [(seq, _chunk(f"{batch_id}-{seq}")) for seq in range(chunks)],
            session=session,
        )
        session.execute(
            update(TallyChunkPending)
            .where(TallyChunkPending.batch_id == batch_id)  # type: ignore[arg-type]
            .values(created_at=utcnow() - timedelta(seconds=published_seconds_ago))
        )
    return batch_id


def test_only_chunks_handed_out_before_the_sweep_and_old_enough_are_lost(env: Env) -> None:
    create_running_campaign(env, CAMPAIGN)
    old = _pending(env, 2, published_seconds_ago=120)
    young = _pending(env, 1, published_seconds_ago=5)
    now = utcnow()
    minute = timedelta(seconds=60)
    with env.session() as session:
        # The sweep message was published before the old chunks: they may still be waiting
        # their turn in the queue behind it, so they are not lost, however old.
        assert lost_chunks(session=session, handed_out_before=now - timedelta(seconds=200),
                           older_than=minute) == []  # fmt: skip
    with env.session() as session:
        lost = lost_chunks(session=session, handed_out_before=now, older_than=minute)
    assert sorted((c.batch_id, c.seq) for c in lost) == [(old, 0), (old, 1)]
    assert young not in {c.batch_id for c in lost}
    assert lost[0].chunk["n"] == 1 and lost[0].campaign_id == CAMPAIGN
    with env.session() as session:
        # Re-published just now: the next sweep gives it another `older_than` first.
        assert lost_chunks(session=session, handed_out_before=utcnow(), older_than=minute) == []


def test_a_worker_without_a_beat_brings_back_a_chunk_the_broker_lost(
    env: Env, broker_url: str
) -> None:
    env.vars["CAMPAIGNS_BROKER_URL"] = broker_url
    create_running_campaign(env, CAMPAIGN)
    _pending(env, 3, published_seconds_ago=90)
    started = time.monotonic()
    env.start("worker", "--concurrency", "1", ready="ready.")

    def stored() -> int:
        with env.session() as session:
            return int(session.execute(select(func.count()).select_from(Tally)).scalar_one())

    # Default settings: 60 s after publication, swept every 10 s.
    while stored() < 3 and time.monotonic() - started < 60:
        time.sleep(0.5)
    assert stored() == 3
    with env.session() as session:
        assert session.execute(select(func.count()).select_from(TallyChunkPending)).scalar() == 0


def test_two_copies_of_one_chunk_stored_at_once_count_it_once(env: Env) -> None:
    """The sweep's copy and a redelivered original racing: the second waits for the first
    and finds its marker (on PostgreSQL it used to fail on the marker's unique key)."""
    from sqlmodel import Session

    from campaigns.db import make_engine
    from campaigns.tallies.store import store_chunk

    create_running_campaign(env, CAMPAIGN)
    batch_id = _pending(env, 1, published_seconds_ago=0)
    chunk = _chunk(f"{batch_id}-0", f"{batch_id}-1")
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    first_stored, outcomes = threading.Event(), {}

    def first() -> None:
        with Session(engine) as session:
            outcomes["first"] = store_chunk(CAMPAIGN, chunk, session=session, batch=(batch_id, 0))
            first_stored.set()
            time.sleep(1.0)  # still uncommitted while the second copy arrives
            session.commit()

    def second() -> None:
        first_stored.wait(10)
        with Session(engine) as session:
            outcomes["second"] = store_chunk(CAMPAIGN, chunk, session=session, batch=(batch_id, 0))
            session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        engine.dispose()
    assert outcomes["first"].stored == 2 and not outcomes["first"].repeated
    assert outcomes["second"].repeated and outcomes["second"].stored == 2
    with env.session() as session:
        assert session.execute(select(func.count()).select_from(Tally)).scalar_one() == 2
