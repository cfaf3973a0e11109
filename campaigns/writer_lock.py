"""One SQLite writer at a time, handed over at once, with the WAL checkpointed in between.

SQLite lets one connection write at a time; the others wait in its busy handler, which sleeps
1, 2, 5, 10, ... up to 100 ms between tries, so with two workers taking turns the write lock
lies idle for tens of milliseconds at each hand-over. Trying every millisecond instead fixes
that but breaks something else: the WAL can only start over when a writer begins after the
previous writer's checkpoint has copied every frame back, and SQLite runs that checkpoint
just *after* releasing the lock, so a writer that pounces at once always finds frames left
and the WAL grows without end (4.7 GB during a 1,000,000-row import, every access slower).

So a write transaction here first takes an exclusive `flock` on a file beside the database
(tried every millisecond), and gives it up only when COMMIT, with the checkpoint SQLite runs
inside it, or ROLLBACK has returned. The next writer starts on a checkpointed WAL.

Only this project's connections take the file lock; anything else writing to the database is
still kept out by SQLite's own lock. A writer that cannot get the file lock within the wait
(a stuck process, say) goes on without it, to SQLite's lock and busy timeout as before.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from typing import Any

WAIT_SECONDS = 30.0
POLL_SECONDS = 0.001


class WriterLockedConnection(sqlite3.Connection):
    """A sqlite3 connection (`sqlite3.connect(..., factory=...)`) that holds the writer lock
    from `take_writer_lock` until its transaction ends."""

    lock_path: str | None = None
    _lock_fd: int | None = None

    def take_writer_lock(self) -> None:
        if self.lock_path is None or self._lock_fd is not None:
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(POLL_SECONDS)
                    continue
                os.close(fd)
                return
            self._lock_fd = fd
            return

    def release_writer_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the file releases its flock

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer_lock()


def lock_path_for(database: str) -> str:
    return f"{database}-writer.lock"


def connect_args(database: str | None) -> dict[str, Any]:
    """`connect_args` for an engine on this SQLite database file (none for `:memory:`)."""
    args: dict[str, Any] = {"timeout": 30}
    if database and database != ":memory:":
        args["factory"] = WriterLockedConnection
    return args
