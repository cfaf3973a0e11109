"""Engines and sessions. One engine per process (a worker, a CLI command), made here.

SQLite runs in WAL mode with a busy timeout so a worker writing tallies and a CLI
reading totals do not trip over each other; `BEGIN IMMEDIATE` takes the write lock up
front so read-then-write transactions cannot deadlock on lock upgrade, except in
`read_session`, whose plain `BEGIN` reads a snapshot without waiting for writers. Writers
take turns through a lock file first (`campaigns.writer_lock`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from campaigns.settings import get_settings
from campaigns.writer_lock import WriterLockedConnection, connect_args, lock_path_for

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Execution option of sessions that never write (see `read_session`).
READ_ONLY = "campaigns_read_only"


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use psycopg 3 for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Pooled: a connection kept open skips the pragmas per session, and closing the last
        # connection of a WAL database checkpoints it, which is too costly per chunk.
        engine = create_engine(
            url, connect_args=connect_args(parsed.database), pool_size=2, max_overflow=8
        )
        _tune_sqlite(engine, parsed.database)
        return engine
    guards = dict(_POSTGRES_GUARDS)
    if "options" in parsed.query:
        guards.pop("options")  # the installation's own session options win
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=guards)


# A worker host cut off mid-transaction would otherwise keep its row locks for as long as
# TCP takes to notice (two hours by default), and every other worker's chunk would wait on
# them: seen in the multi-host chaos test. The server ends such a session after 30 s (below
# the chunk task's 40 s soft limit); a lock waited on for 20 s is an error that retries
# (transient) instead of a soft time limit that counts against the message; both ends
# probe the connection with keepalives. (Behind PgBouncer, add `options` to its
# `ignore_startup_parameters`, or give the URL an `options=` of your own.)
_POSTGRES_GUARDS: dict[str, Any] = {
    "options": " ".join(
        f"-c {name}={value}"
        for name, value in (
            ("idle_in_transaction_session_timeout", "30s"),
            ("lock_timeout", "20s"),
            ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "3"),
        )
    ),
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    # Milliseconds: data sent to a database that stopped answering fails after this.
    "tcp_user_timeout": 30000,
}


def _tune_sqlite(engine: Engine, database: str | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, WriterLockedConnection) and database:
            dbapi_connection.lock_path = lock_path_for(database)
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A reader that only polls must not queue for the write lock behind the workers.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            raw = connection.connection.dbapi_connection
            if isinstance(raw, WriterLockedConnection):
                raw.take_writer_lock()
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if isinstance(raw, WriterLockedConnection):
                    raw.release_writer_lock()
                raise


_engine_pid: int | None = None


@lru_cache(maxsize=1)
def _cached_engine(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    """The process's engine; a forked child (Celery prefork) gets a fresh one."""
    global _engine_pid
    if _engine_pid is not None and _engine_pid != os.getpid():
        _cached_engine.cache_clear()
    _engine_pid = os.getpid()
    return _cached_engine(get_settings().database_url_value)


def reset_engine() -> None:
    if _cached_engine.cache_info().currsize:
        _cached_engine(get_settings().database_url_value).dispose()
    _cached_engine.cache_clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error: for the edges only."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_session(engine: Engine | None = None) -> Iterator[Session]:
    """A session for reading only: on SQLite its transaction does not take the write lock."""
    bound = (engine or get_engine()).execution_options(**{READ_ONLY: True})
    with Session(bound, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


def upgrade_database(engine: Engine | None = None) -> None:
    """Create or upgrade the schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    engine = engine or get_engine()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
