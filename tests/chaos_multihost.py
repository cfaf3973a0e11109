"""Several hosts, as a province runs them: faults with real network separation.

Four hosts on one switch (tests/netns.py): `db` runs Redis and PostgreSQL, listening on its
own address; `w1` and `w2` each run `campaigns worker --concurrency 2`; `office` runs
`campaigns import` of 100,000 tallies (tests.chaos_harness.write_load). The test process
itself sits on the same switch and counts from the database, as the chaos harness does.

Once the import has returned and a fifth of the tallies are counted, one host is cut off
(its switch port goes down: packets vanish, nobody gets an error) and later plugged back:

    worker-host-cut-60s   w1 cut off from everyone for 60 s
    db-host-cut-30s       db (broker and database) cut off from everyone for 30 s

Then: wait until every tally is counted, or until the count stands still for STALL_SECONDS
(at most SETTLE_TIMEOUT), and count lost and doubled from the database
(tests.chaos_harness.audit). Recovery is the time from the restore until the last tally was
counted (0 if the other hosts had already counted everything by then).

Settings are the defaults an installation gets (time limits, visibility timeout, sweep,
retry backoff); only CAMPAIGNS_DISPATCH_INTERVAL_SECONDS=1 and CAMPAIGNS_DIGEST_TIME=off are
set, as in the chaos harness. `MULTIHOST_SCENARIOS` maps names to the scenario functions,
which return tests.chaos_harness.ScenarioResult. They need root and iproute2
(`tests.netns.available()` says why not) and raise tests.servers.ServerUnavailableError
where Redis or PostgreSQL binaries are missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text

from tests.chaos_harness import CAMPAIGN, LOAD, ScenarioResult, audit, counted, write_load
from tests.conftest import CAMPAIGNS, Env, create_running_campaign, make_env
from tests.netns import NetnsError, Network, available
from tests.servers import PostgresServer, RedisServer, _end, _wait_until_ready

HOSTS = ("db", "w1", "w2", "office")
WORKER_HOSTS = ("w1", "w2")
REDIS_PORT = 6379
POSTGRES_PORT = 5432
# No progress for this long: the sweep (60 s after publication, checked every 10 s) and the
# capped retry backoff (60 s) have both had their turn, twice over.
STALL_SECONDS = 180
SETTLE_TIMEOUT = 600


# -- servers on a host ----------------------------------------------------------------------


def _spawn(command: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
            cwd=cwd,
            start_new_session=True,
        )


class HostRedis:
    """redis-server on `host`, bound to the host's address (AOF on, as in the harness).

    The binary and the directory are tests.servers.RedisServer's (which is never started).
    """

    def __init__(self, network: Network, host: str) -> None:
        self._files = RedisServer(appendonly=True)
        self.network, self.host = network, host
        self.address = network.address(host)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.address}:{REDIS_PORT}/0"

    def start(self) -> None:
        directory = self._files.directory
        log = directory / "redis.log"
        command = [
            *self.network.exec_prefix(self.host),
            os.fspath(self._files.binary),
            "--port", str(REDIS_PORT),
            "--bind", self.address,
            "--protected-mode", "no",
            "--dir", os.fspath(directory),
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--logfile", os.fspath(log),
        ]  # fmt: skip
        self._process = _spawn(command, log, directory)
        _wait_until_ready(self._process, log, self._ping, "Redis")

    def _ping(self) -> bool:
        client = redis.Redis(
            host=self.address,
            port=REDIS_PORT,
            socket_timeout=2,
            socket_connect_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()  # SIGTERM: redis-server fsyncs the AOF and exits
            _end(self._process, [signal.SIGKILL])
            self._process = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._files.close()


class HostPostgres:
    """PostgreSQL on `host`, listening on the host's address, trusting the test network.

    Binaries, directory and the user it runs as (root may not run PostgreSQL) are those
    tests.servers.PostgresServer prepares; the cluster is made here with initdb.
    """

    def __init__(self, network: Network, host: str) -> None:
        self._files = PostgresServer()
        self.network, self.host = network, host
        self.address = network.address(host)
        owner = self._files.directory.stat()
        self.uid, self.gid = owner.st_uid, owner.st_gid
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.address}:{POSTGRES_PORT}/postgres"

    def _as_owner(self) -> list[str]:
        if self.uid == os.geteuid():
            return []
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--"]

    def _initdb(self) -> None:
        data = self._files.data_dir
        command = [
            os.fspath(self._files.bindir / "initdb"),
            "-D", os.fspath(data),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]  # fmt: skip
        result = subprocess.run(
            [*self._as_owner(), *command],
            cwd=self._files.directory,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{result.stderr[-2000:]}")
        subnet = self.address.rsplit(".", 1)[0] + ".0/24"
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {subnet} trust\n")

    def start(self) -> None:
        if not self._files.data_dir.exists():
            self._initdb()
        log = self._files.directory / "postgres.log"
        command = [
            *self.network.exec_prefix(self.host),
            *self._as_owner(),
            os.fspath(self._files.bindir / "postgres"),
            "-D", os.fspath(self._files.data_dir),
            "-p", str(POSTGRES_PORT),
            "-c", f"listen_addresses={self.address}",
            "-c", f"unix_socket_directories={self._files.socket_dir}",
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip
        self._process = _spawn(command, log, self._files.directory)
        _wait_until_ready(self._process, log, self._accepts_connections, "PostgreSQL")

    def _accepts_connections(self) -> bool:
        conninfo = f"host={self.address} port={POSTGRES_PORT} user=postgres dbname=postgres"
        try:
            with psycopg.connect(conninfo, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)  # fast shutdown
            _end(self._process, [signal.SIGQUIT])
            self._process = None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._files.close()


# -- campaigns processes on a host ----------------------------------------------------------


@dataclass
class HostEnv(Env):
    """tests.conftest.Env whose commands run on a host: `ip netns exec NAME campaigns ...`."""

    prefix: list[str] = field(default_factory=list)

    def run(
        self, *args: str, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, CAMPAIGNS, *args],
            env=self.vars,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            cwd=self.data_dir,
        )

    def start(
        self, *args: str, ready: str | None = None, timeout: float = 60
    ) -> subprocess.Popen[str]:
        """As Env.start: a long-running process, its output in data_dir/NAME-PID.log."""
        process = subprocess.Popen(
            [*self.prefix, CAMPAIGNS, *args],
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
                        f"campaigns {args[0]} did not start on {self.prefix[-1]}:\n"
                        f"{log_path.read_text()}"
                    )
        return process


@dataclass
class Cluster:
    network: Network
    here: Env  # the test process (root namespace): counts and audits
    hosts: dict[str, HostEnv]


@contextmanager
def cluster(tmp: Path) -> Iterator[Cluster]:
    """The four hosts with Redis and PostgreSQL on `db`, migrated; nothing started on the
    others yet. Everything is stopped and removed afterwards, also after a failure."""
    reason = available()
    if reason is not None:
        raise NetnsError(reason)
    with (
        Network(HOSTS) as network,
        HostRedis(network, "db") as broker,
        HostPostgres(network, "db") as database,
    ):
        here = make_env(database.url, tmp / "here")
        here.vars.update(
            CAMPAIGNS_BROKER_URL=broker.url,
            CAMPAIGNS_DISPATCH_INTERVAL_SECONDS="1",
            # The evening digest of a campaign running now would add a summary of its own.
            CAMPAIGNS_DIGEST_TIME="off",
        )
        hosts: dict[str, HostEnv] = {}
        try:
            for host in HOSTS:
                if host == "db":
                    continue
                data_dir = tmp / host  # each host its own data dir, as on separate machines
                data_dir.mkdir()
                variables = {**here.vars, "CAMPAIGNS_DATA_DIR": str(data_dir)}
                hosts[host] = HostEnv(variables, data_dir, prefix=network.exec_prefix(host))
            yield Cluster(network, here, hosts)
        finally:
            # Workers first, with the network whole again, so they can shut down cleanly.
            for env in hosts.values():
                env.stop_all()
            here.stop_all()


# -- the scenarios --------------------------------------------------------------------------


def settle(env: Env, rows: int) -> tuple[float, bool]:
    """(seconds, all counted): wait until `rows` tallies are counted, or until the count
    stands still for STALL_SECONDS, or SETTLE_TIMEOUT."""
    start = time.monotonic()
    last, last_change = -2, start
    while True:
        now_counted = counted(env)
        now = time.monotonic()
        if now_counted >= rows:
            return now - start, True
        if now_counted != last:
            last, last_change = now_counted, now
        if now - last_change > STALL_SECONDS or now - start > SETTLE_TIMEOUT:
            return now - start, False
        time.sleep(0.5)


def _wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)


def stranded_transactions(env: Env, address: str) -> tuple[int, int]:
    """(transactions of `address` left idle in transaction, other backends waiting on them),
    seen from the database: a client cut off mid-transaction keeps its locks until it comes
    back or PostgreSQL gives up on the connection."""
    query = text(
        "SELECT pid, host(client_addr) AS host, state, pg_blocking_pids(pid) AS blockers"
        " FROM pg_stat_activity WHERE backend_type = 'client backend'"
        " AND pid <> pg_backend_pid()"
    )
    with env.session() as session:
        rows = session.execute(query).all()
    idle = {
        row.pid for row in rows if row.host == address and (row.state or "").startswith("idle in")
    }
    waiting = sum(1 for row in rows if row.pid not in idle and idle & set(row.blockers))
    return len(idle), waiting


_IMPORT_RUNS: dict[Path, int] = {}


def _import_until_accepted(office: Env, load: Path) -> None:
    _IMPORT_RUNS[office.data_dir] = 0
    deadline = time.monotonic() + 600
    while True:
        _IMPORT_RUNS[office.data_dir] += 1
        result = office.run("import", CAMPAIGN, str(load), timeout=600)
        if result.returncode == 0 or time.monotonic() > deadline:
            return
        time.sleep(2)


def _cut_mid_import(tmp: Path, victim: str, seconds: float, title: str) -> ScenarioResult:
    with cluster(tmp) as c:
        office = c.hosts["office"]
        load = office.data_dir / "load.csv"
        expected = write_load(load)
        create_running_campaign(office, CAMPAIGN)
        for host in WORKER_HOSTS:
            c.hosts[host].start("worker", "--concurrency", "2", ready="ready.")
        # The import runs beside the cut, as an office's would, and is repeated unchanged
        # when it fails (a broker cut off mid-publish), as its clerk would: counted once.
        importing = threading.Thread(target=_import_until_accepted, args=(office, load))
        importing.start()
        _wait_for(lambda: counted(c.here) >= LOAD // 10, timeout=300, what="a tenth counted")
        at_cut = at_end = counted(c.here)
        notes = [f"{at_cut:,} counted at the cut"]
        with c.network.cut_off(victim):
            if victim == "db":  # the test process is cut off from it too
                time.sleep(seconds)
            else:
                time.sleep(seconds / 2)
                idle, waiting = stranded_transactions(c.here, c.network.address(victim))
                half_way = counted(c.here)
                time.sleep(seconds / 2)
                at_end = counted(c.here)
                notes.append(f"{half_way:,} half-way, {at_end:,} when {victim} came back")
                if idle:
                    notes.append(
                        f"meanwhile {waiting} backend(s) of the other hosts waited on the locks "
                        f"of {idle} transaction(s) {victim} had left open"
                    )
        importing.join(600)
        recovery, complete = settle(c.here, LOAD)
        notes.append(f"the import ran {_IMPORT_RUNS[office.data_dir]} time(s)")
        lost, doubled = audit(c.here, expected, LOAD)
        if not complete:
            notes.append(f"the count then stood still for {STALL_SECONDS} s")
        return ScenarioResult(
            title,
            LOAD,
            lost,
            doubled,
            recovery,
            "; ".join(notes),
            at_end if victim != "db" else None,
        )


def scenario_worker_host_cut(tmp: Path) -> ScenarioResult:
    return _cut_mid_import(
        tmp, "w1", 60, "One of two worker hosts cut off from the network for 60 s mid-import"
    )


def scenario_db_host_cut(tmp: Path) -> ScenarioResult:
    return _cut_mid_import(
        tmp, "db", 30, "Broker and database host cut off from everyone for 30 s mid-import"
    )


MULTIHOST_SCENARIOS: dict[str, Callable[[Path], ScenarioResult]] = {
    "worker-host-cut-60s": scenario_worker_host_cut,
    "db-host-cut-30s": scenario_db_host_cut,
}
