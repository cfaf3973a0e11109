"""SQLite writers on a real database file: a waiting writer takes over as soon as the lock is
free, the WAL starts over between writers instead of growing, and a stale lock file holder
delays a writer by the wait limit at most."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

import campaigns.writer_lock
from campaigns.db import make_engine
from campaigns.writer_lock import lock_path_for


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER, filler TEXT)"))
    return engine


def _hold(engine: Engine, started: threading.Event, committed: list[float]) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t (n) VALUES (0)"))
        started.set()
        time.sleep(0.45)
    committed.append(time.monotonic())


def test_a_waiting_writer_takes_over_right_after_the_commit(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    lags = []
    for _ in range(5):
        started, committed = threading.Event(), []
        holder = threading.Thread(target=_hold, args=(engine, started, committed))
        holder.start()
        started.wait()
        with engine.begin() as connection:
            got = time.monotonic()
            connection.execute(text("INSERT INTO t (n) VALUES (1)"))
        holder.join()
        lags.append(got - committed[0])
    engine.dispose()
    # SQLite's own busy handler would be sleeping 100 ms at a time by then; the poll is 1 ms.
    assert sorted(lags)[2] < 0.03, lags


def test_the_wal_starts_over_between_writers_taking_turns(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    filler = "x" * 400
    wal = tmp_path / "lock.db-wal"
    biggest = [0]

    def write(part: int) -> None:
        for _ in range(60):
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO t (n, filler) VALUES (:n, :f)"),
                    [{"n": part, "f": filler}] * 500,
                )
            biggest[0] = max(biggest[0], wal.stat().st_size)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM t")).scalar_one()
    engine.dispose()
    assert rows == 2 * 60 * 500
    # About 26 MB went through the WAL; checkpointed between writers it stays near the
    # autocheckpoint size (1,000 pages, 4 MB) plus one transaction.
    assert biggest[0] < 12 * 2**20, biggest[0]


def test_a_stale_lock_holder_delays_a_writer_by_the_wait_limit_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns.writer_lock, "WAIT_SECONDS", 0.3)
    engine = _engine(tmp_path)
    stuck = os.open(lock_path_for(str(tmp_path / "lock.db")), os.O_RDWR | os.O_CREAT)
    fcntl.flock(stuck, fcntl.LOCK_EX)
    try:
        began = time.monotonic()
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t (n) VALUES (2)"))
        waited = time.monotonic() - began
    finally:
        os.close(stuck)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM t")).scalars().all() == [2]
    engine.dispose()
    assert 0.3 <= waited < 2.0, waited
