"""Fixtures on real parts: a SQLite file and a PostgreSQL database per test, a real Redis,
real `campaigns` CLI and worker processes, a real SMTP server."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from tests.servers import (
    ServerUnavailableError,
    fresh_database,
    postgres_binaries,
    postgres_url_for_tests,
    redis_url_for_tests,
)
from tests.smtp_server import smtp_server_fixture  # noqa: F401  (fixture)

CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))


def pytest_report_header(config: pytest.Config) -> str:
    """Which PostgreSQL this run uses, said once at the top (no server is started for it)."""
    try:
        private = f"private servers from {postgres_binaries().describe()}"
    except ServerUnavailableError as exc:
        private = f"none found, PostgreSQL tests skip ({exc})"
    external = os.environ.get("CAMPAIGNS_TEST_DATABASE_URL")
    if not external:
        return f"postgresql: {private}"
    shown = make_url(external).render_as_string(hide_password=True)
    # Tests of the servers themselves and the chaos tests always start private servers.
    return f"postgresql: the server at CAMPAIGNS_TEST_DATABASE_URL ({shown}); {private}"


def insert_campaign(connection: Connection, campaign_id: str) -> None:
    """A running 2019 campaign row written straight in SQL, for tests below the domain layer
    (migrations, query plans) where the schema may not match today's models."""
    connection.execute(
        text(
            "INSERT INTO campaign (id, kind, year, title, start_at, end_at, timezone,"
            " status, created_at, updated_at) VALUES (:c, 'custom', 2019, 't',"
            " '2019-04-14 16:00:00', '2019-04-22 16:00:00', 'Asia/Shanghai', 'running',"
            " '2019-04-01 00:00:00', '2019-04-01 00:00:00')"
        ),
        {"c": campaign_id},
    )


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    with redis_url_for_tests() as url:
        yield url


_redis_dbs = itertools.cycle(range(1, 16))


@pytest.fixture
def broker_url(redis_server_url: str) -> str:
    """A Redis database of its own (emptied), so queues of earlier tests cannot leak in."""
    base = redis_server_url.rstrip("/")
    if base.count("/") > 2:
        base = base.rsplit("/", 1)[0]
    url = f"{base}/{next(_redis_dbs)}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with postgres_url_for_tests() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'campaigns.db'}"
        return
    base = request.getfixturevalue("postgres_server_url")
    with fresh_database(base) as url:
        yield url


@dataclass
class Env:
    """One installation under test: its environment, database and data dir."""

    vars: dict[str, str]
    data_dir: Path
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def run(
        self, *args: str, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CAMPAIGNS, *args],
            env=self.vars,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            cwd=self.data_dir,
        )

    def ok(self, *args: str, timeout: float = 120) -> str:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, f"campaigns {' '.join(args)}: {result.stderr}{result.stdout}"
        return result.stdout

    @contextmanager
    def session(self) -> Iterator[Session]:
        from campaigns.db import make_engine

        engine = make_engine(self.vars["CAMPAIGNS_DATABASE_URL"])
        try:
            with Session(engine, expire_on_commit=False) as session:
                yield session
                session.commit()
        finally:
            engine.dispose()

    def start(
        self, *args: str, ready: str | None = None, timeout: float = 60
    ) -> subprocess.Popen[str]:
        """A long-running `campaigns` process; with `ready`, wait for that text in its log."""
        process = subprocess.Popen(
            [CAMPAIGNS, *args],
            env=self.vars,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.data_dir,
            start_new_session=True,
        )
        self.processes.append(process)
        log_path = self.data_dir / f"{args[0]}-{process.pid}.log"
        seen = threading.Event()

        def pump() -> None:
            assert process.stdout is not None
            with log_path.open("w") as log:
                for line in process.stdout:
                    log.write(line)
                    log.flush()
                    if ready and ready in line:
                        seen.set()

        threading.Thread(target=pump, daemon=True).start()
        if ready:
            deadline = time.monotonic() + timeout
            while not seen.wait(0.2):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"campaigns {args[0]} did not start:\n{log_path.read_text()}"
                    )
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def make_env(database_url: str, data_dir: Path) -> Env:
    """A fresh installation: its own data dir and database, migrated."""
    data_dir.mkdir(parents=True, exist_ok=True)
    variables = {
        key: value for key, value in os.environ.items() if not key.startswith("CAMPAIGNS_")
    }
    variables.update(
        CAMPAIGNS_DATABASE_URL=database_url,
        CAMPAIGNS_DATA_DIR=str(data_dir),
        CAMPAIGNS_TIMEZONE="Asia/Shanghai",
        CAMPAIGNS_ACTOR="tester",
        CAMPAIGNS_MAIL_FROM="publicity@bureau.example",
    )
    environment = Env(variables, data_dir)
    environment.ok("init")
    return environment


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[Env]:
    environment = make_env(database_url, tmp_path / "data")
    yield environment
    environment.stop_all()


@pytest.fixture
def worker_env(env: Env, broker_url: str) -> Env:
    """`env` with a broker and one real worker process (prefork, one child)."""
    env.vars["CAMPAIGNS_BROKER_URL"] = broker_url
    env.start("worker", "--concurrency", "1", ready="ready.")
    return env


def create_running_campaign(env: Env, campaign_id: str, *options: str) -> None:
    """A World IP Day campaign from yesterday to tomorrow: open for tallies now."""
    today = date.today()
    env.ok(
        "create",
        "world-ip-day",
        "--year",
        str(today.year),
        "--start",
        str(today - timedelta(days=1)),
        "--end",
        str(today + timedelta(days=1)),
        "--id",
        campaign_id,
        *options,
    )
