"""SQLite's write lock on a real database file: a waiting writer takes it as soon as it is
free (not after SQLite's own growing sleeps), and still gives up after the wait limit."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import campaigns.db
from campaigns.db import make_engine


def _holder(path: Path, hold: float, started: threading.Event, released: list[float]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(hold)
    connection.execute("COMMIT")
    released.append(time.monotonic())
    connection.close()


def _prepare(tmp_path: Path) -> Path:
    path = tmp_path / "lock.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    engine.dispose()
    return path


def test_a_waiting_writer_takes_the_lock_right_after_it_is_released(tmp_path: Path) -> None:
    path = _prepare(tmp_path)
    engine = make_engine(f"sqlite:///{path}")
    lags = []
    for _ in range(5):
        started, released = threading.Event(), []
        holder = threading.Thread(target=_holder, args=(path, 0.3, started, released))
        holder.start()
        started.wait()
        with engine.begin() as connection:
            got = time.monotonic()
            connection.execute(text("INSERT INTO t VALUES (1)"))
        holder.join()
        lags.append(got - released[0])
    engine.dispose()
    # SQLite's busy handler would be sleeping 100 ms at a time by then; the poll is 1 ms.
    assert sorted(lags)[2] < 0.05, lags
    assert min(lags) >= 0


def test_a_writer_gives_up_after_the_wait_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns.db, "_LOCK_WAIT_SECONDS", 0.2)
    path = _prepare(tmp_path)
    engine = make_engine(f"sqlite:///{path}")
    started, released = threading.Event(), []
    holder = threading.Thread(target=_holder, args=(path, 1.0, started, released))
    holder.start()
    started.wait()
    began = time.monotonic()
    with (
        pytest.raises(OperationalError, match="database is locked"),
        engine.begin() as connection,
    ):
        connection.execute(text("INSERT INTO t VALUES (1)"))
    waited = time.monotonic() - began
    holder.join()
    engine.dispose()
    assert 0.2 <= waited < 0.9
