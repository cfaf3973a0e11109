"""Fault-injection scenarios on real processes: each starts its own Redis (and PostgreSQL
where the fault needs it) and `campaigns worker` processes, pushes at least 100,000 tallies
through `campaigns import`, injects one fault, lets the system recover and measures:

    lost     input keys never stored
    doubled  rows stored twice, or rollup totals that differ from a fresh SUM over the rows
    recovery seconds from the end of the fault until every tally was counted

Used by tests/test_chaos.py (which asserts lost = doubled = 0) and by
`uv run python -m bench.reliability` (which prints the README's table).
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text

from tests.conftest import Env, make_env
from tests.servers import PostgresServer, RedisServer

LOAD = 100_000
CAMPAIGN = "ip-week"
METRICS = ("materials", "attendance", "consultations", "boards")


@dataclass
class ScenarioResult:
    name: str
    load: int
    lost: int
    doubled: int
    recovery_seconds: float
    detail: str = ""
    # Tallies counted by the moment the fault ended, where a scenario measures it.
    counted_when_fault_ended: int | None = None


def write_load(path: Path, rows: int = LOAD) -> dict[str, int]:
    """A Chinese-headed CSV of `rows` tallies with explicit keys; returns the expected totals."""
    expected = dict.fromkeys(METRICS, 0)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["编号", "指标", "数量", "地点"])
        for i in range(rows):
            metric = METRICS[i % len(METRICS)]
            quantity = 1 + (i * 7919) % 50
            expected[metric] += quantity
            writer.writerow([f"k{i}", metric, quantity, f"站点{i % 17}"])
    return expected


def cluster_env(tmp: Path, *, database_url: str | None, broker_url: str, **extra: str) -> Env:
    data_dir = tmp / "data"
    env = make_env(database_url or f"sqlite:///{data_dir / 'campaigns.db'}", data_dir)
    # The reliability settings (time limits, visibility timeout, sweep) are the defaults:
    # what is measured here is what an installation gets.
    env.vars.update(
        CAMPAIGNS_BROKER_URL=broker_url,
        CAMPAIGNS_DISPATCH_INTERVAL_SECONDS="1",
        CAMPAIGNS_DELIVERY_BACKOFF_SECONDS="1",
        CAMPAIGNS_RETRY_BACKOFF_SECONDS="0.5",
        CAMPAIGNS_RETRY_BACKOFF_MAX_SECONDS="5",
        # The scenarios count final summaries and their messages; the evening digest of a
        # campaign running now would add its own from 18:00 Beijing time (10:00 UTC) on.
        CAMPAIGNS_DIGEST_TIME="off",
        **extra,
    )
    return env


def counted(env: Env, campaign_id: str = CAMPAIGN) -> int:
    """How many tally rows are stored (0 while the database is unreachable)."""
    from campaigns.models import Tally

    try:
        with env.session() as session:
            query = select(func.count()).select_from(Tally).where(Tally.campaign_id == campaign_id)
            return int(session.execute(query).scalar_one())
    except Exception:
        return -1


def audit(
    env: Env, expected: dict[str, int], rows: int, campaign_id: str = CAMPAIGN
) -> tuple[int, int]:
    """(lost, doubled) measured from the database itself."""
    from campaigns.models import Tally, VenueRollup
    from campaigns.tallies.totals import totals

    with env.session() as session:
        stored_rows = session.execute(
            select(func.count()).select_from(Tally).where(Tally.campaign_id == campaign_id)
        ).scalar_one()
        distinct_keys = session.execute(
            select(func.count(func.distinct(Tally.key))).where(Tally.campaign_id == campaign_id)
        ).scalar_one()
        raw = dict(
            session.execute(
                select(Tally.metric, func.sum(Tally.quantity))
                .where(Tally.campaign_id == campaign_id)
                .group_by(Tally.metric)
            ).all()
        )
        rolled = {m: t.total for m, t in totals(campaign_id, session=session).items()}
        by_venue = dict(
            session.execute(
                select(VenueRollup.metric, func.sum(VenueRollup.total))
                .where(VenueRollup.campaign_id == campaign_id)
                .group_by(VenueRollup.metric)
            ).all()
        )
    lost = rows - distinct_keys
    doubled = (stored_rows - distinct_keys) + sum(
        abs(rolled.get(m, 0) - int(raw.get(m, 0))) + abs(int(by_venue.get(m, 0)) - rolled.get(m, 0))
        for m in set(rolled) | set(raw) | set(by_venue)
    )
    if lost == 0 and doubled == 0:
        assert rolled == {m: v for m, v in expected.items() if v}, (rolled, expected)
    return lost, doubled


def wait_until(predicate: Callable[[], bool], *, timeout: float, every: float = 0.5) -> float:
    """Seconds it took; raises after `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not reached within {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - start


def worker_children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def start_import(env: Env, csv_path: Path) -> None:
    env.ok("import", CAMPAIGN, str(csv_path), timeout=600)


@contextmanager
def redis_server(appendonly: bool) -> Iterator[RedisServer]:
    with RedisServer(appendonly=appendonly) as server:
        yield server


@contextmanager
def postgres_database() -> Iterator[tuple[PostgresServer, str]]:
    with PostgresServer() as server:
        yield server, server.url


def outbox_count(env: Env) -> int:
    return len(list((env.data_dir / "outbox").glob("*.eml")))


def force_end_now(env: Env, campaign_id: str, seconds_from_now: float) -> None:
    """Move a campaign's end to just ahead, as if its last day were ending now."""
    from datetime import UTC, datetime, timedelta

    end = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    start = end - timedelta(days=1)
    with env.session() as session:
        session.execute(
            text("UPDATE campaign SET start_at = :start, end_at = :end WHERE id = :id"),
            {
                "start": start.replace(tzinfo=None),
                "end": end.replace(tzinfo=None),
                "id": campaign_id,
            },
        )


def sigkill_group(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Longer than the default sweep (60 s after publication, checked every 10 s) plus a margin:
# a count that stands still this long will not move again.
STALL_SECONDS = 150


def settle(env: Env, rows: int, *, timeout: float) -> float:
    """Wait until every row is counted, or until the count stops moving for STALL_SECONDS."""
    start = time.monotonic()
    last, last_change = -1, time.monotonic()
    while True:
        now_counted = counted(env)
        if now_counted >= rows:
            return time.monotonic() - start
        if now_counted != last:
            last, last_change = now_counted, time.monotonic()
        if time.monotonic() - last_change > STALL_SECONDS or time.monotonic() - start > timeout:
            return time.monotonic() - start
        time.sleep(0.5)


def _import_under(env: Env, tmp: Path) -> dict[str, int]:
    """The load file, and a campaign running now (a dispatcher must not close it early)."""
    from datetime import date, timedelta

    expected = write_load(tmp / "load.csv")
    today = date.today()
    env.ok(
        "create",
        "world-ip-day",
        "--year",
        str(today.year),
        "--id",
        CAMPAIGN,
        "--start",
        str(today - timedelta(days=1)),
        "--end",
        str(today + timedelta(days=1)),
    )
    return expected


def _start_env(env: Env, extra: dict[str, str], *args: str, ready: str | None = None) -> object:
    saved = dict(env.vars)
    env.vars.update(extra)
    try:
        return env.start(*args, ready=ready)
    finally:
        env.vars.clear()
        env.vars.update(saved)


def scenario_worker_child_killed(tmp: Path) -> ScenarioResult:
    with redis_server(appendonly=True) as broker:
        env = cluster_env(tmp, database_url=None, broker_url=broker.url)
        try:
            expected = _import_under(env, tmp)
            worker = env.start("worker", "--concurrency", "2", ready="ready.")
            start_import(env, tmp / "load.csv")
            wait_until(lambda: counted(env) > LOAD // 5, timeout=300)
            victims = worker_children(worker.pid)
            assert victims, "the worker has no pool processes"
            os.kill(victims[0], signal.SIGKILL)
            recovery = settle(env, LOAD, timeout=600)
            lost, doubled = audit(env, expected, LOAD)
            return ScenarioResult(
                "SIGKILL of a worker child mid-chunk",
                LOAD,
                lost,
                doubled,
                recovery,
                "the pool replaces the child; the chunk is rejected and redelivered",
            )
        finally:
            env.stop_all()


def scenario_whole_worker_killed(tmp: Path) -> ScenarioResult:
    kills = 3
    with redis_server(appendonly=True) as broker:
        # No beat: the worker's own sweep is what brings back the chunks the dead worker
        # held (Redis returns them only after the 900 s visibility timeout) and any chunk
        # lost between kombu's BRPOP and its write to the unacked hash (seen once in CI).
        env = cluster_env(tmp, database_url=None, broker_url=broker.url)
        try:
            expected = _import_under(env, tmp)
            worker = env.start("worker", "--concurrency", "2", ready="ready.")
            start_import(env, tmp / "load.csv")
            done = 0
            while done < kills:
                # Killed as soon as it has stored one more chunk: it is then holding the next.
                target = max(counted(env), 0) + 5000
                if target >= LOAD:
                    break
                wait_until(lambda t=target: counted(env) >= t, timeout=300, every=0.05)
                sigkill_group(worker.pid)
                worker.wait()
                done += 1
                worker = env.start("worker", "--concurrency", "2", ready="ready.")
            recovery = settle(env, LOAD, timeout=600)
            lost, doubled = audit(env, expected, LOAD)
            return ScenarioResult(
                f"SIGKILL of the whole worker {done} times, new worker started each time",
                LOAD,
                lost,
                doubled,
                recovery,
                "chunks the dead worker held are re-published by the new worker's sweep "
                "about 60 s after publication (defaults; Redis itself returns them only after "
                "the 900 s visibility timeout)",
            )
        finally:
            env.stop_all()


def scenario_redis_restarted_with_aof(tmp: Path) -> ScenarioResult:
    with redis_server(appendonly=True) as broker:
        env = cluster_env(tmp, database_url=None, broker_url=broker.url)
        try:
            expected = _import_under(env, tmp)
            env.start("worker", "--concurrency", "2", ready="ready.")
            start_import(env, tmp / "load.csv")
            wait_until(lambda: counted(env) > LOAD // 5, timeout=300)
            broker.restart()
            recovery = settle(env, LOAD, timeout=600)
            lost, doubled = audit(env, expected, LOAD)
            return ScenarioResult(
                "Redis restarted mid-import (AOF on)",
                LOAD,
                lost,
                doubled,
                recovery,
                "queued chunks survive in the AOF; workers reconnect; a chunk a worker had "
                "taken when Redis went away is re-published by the sweep",
            )
        finally:
            env.stop_all()


def scenario_redis_restarted_without_persistence(tmp: Path) -> ScenarioResult:
    with redis_server(appendonly=False) as broker:
        env = cluster_env(tmp, database_url=None, broker_url=broker.url)
        try:
            expected = _import_under(env, tmp)
            env.start("worker", "--concurrency", "2", ready="ready.")
            start_import(env, tmp / "load.csv")
            wait_until(lambda: counted(env) > LOAD // 5, timeout=300)
            broker.kill()  # a crash: the queued chunks are gone with it
            lost_at_restart = LOAD - counted(env)
            broker.start()
            recovery = settle(env, LOAD, timeout=600)
            lost, doubled = audit(env, expected, LOAD)
            return ScenarioResult(
                "Redis killed mid-import, persistence off",
                LOAD,
                lost,
                doubled,
                recovery,
                f"{lost_at_restart:,} tallies were queued in the lost Redis; the workers' "
                "sweep re-published their chunks from the database (defaults: after 60 s)",
            )
        finally:
            env.stop_all()


def scenario_postgres_down_30s(tmp: Path) -> ScenarioResult:
    with redis_server(appendonly=True) as broker, postgres_database() as (pg, url):
        env = cluster_env(tmp, database_url=url, broker_url=broker.url)
        try:
            expected = _import_under(env, tmp)
            env.start("worker", "--concurrency", "2", ready="ready.")
            start_import(env, tmp / "load.csv")
            wait_until(lambda: counted(env) > LOAD // 5, timeout=300)
            pg.stop()
            time.sleep(30)
            pg.start()
            recovery = settle(env, LOAD, timeout=600)
            lost, doubled = audit(env, expected, LOAD)
            return ScenarioResult(
                "PostgreSQL stopped for 30 s mid-import",
                LOAD,
                lost,
                doubled,
                recovery,
                "chunk tasks retry with capped backoff until the database is back",
            )
        finally:
            env.stop_all()


def scenario_poison_chunk(tmp: Path) -> ScenarioResult:
    from celery import Celery

    with redis_server(appendonly=True) as broker:
        env = cluster_env(tmp, database_url=None, broker_url=broker.url, CAMPAIGNS_POISON_LIMIT="3")
        try:
            expected = _import_under(env, tmp)
            env.start("worker", "--concurrency", "2", ready="ready.")
            producer = Celery(broker=broker.url)
            producer.conf.task_default_queue = "campaigns"
            producer.send_task("campaigns.store_tallies", args=[CAMPAIGN, [{"not": "a tally"}]])
            started = time.monotonic()
            start_import(env, tmp / "load.csv")
            settle(env, LOAD, timeout=600)
            wait_until(lambda: "1 quarantined" in env.ok("dead-letters"), timeout=120)
            lost, doubled = audit(env, expected, LOAD)
            return ScenarioResult(
                "A poison chunk (always crashes) in the queue",
                LOAD,
                lost,
                doubled,
                time.monotonic() - started,
                "quarantined after 3 attempts into dead_letter; the rest counted meanwhile",
            )
        finally:
            env.stop_all()


def scenario_racing_dispatchers(tmp: Path) -> ScenarioResult:
    from campaigns.models import Delivery, Summary

    recipients = 3
    with redis_server(appendonly=True) as broker:
        env = cluster_env(tmp, database_url=None, broker_url=broker.url)
        try:
            expected = _import_under(env, tmp)
            for i in range(recipients):
                env.ok("recipients", "add", f"leader{i}@bureau.example")
            env.start("worker", "--concurrency", "2", ready="ready.")
            env.start("worker", "--concurrency", "2", ready="ready.")
            start_import(env, tmp / "load.csv")
            settle(env, LOAD, timeout=600)
            force_end_now(env, CAMPAIGN, seconds_from_now=3)
            ends = time.monotonic() + 3
            for beat_dir in ("beat-a", "beat-b"):
                (tmp / beat_dir).mkdir()
                _start_env(env, {"CAMPAIGNS_DATA_DIR": str(tmp / beat_dir)}, "beat")
            wait_until(lambda: outbox_count(env) >= recipients, timeout=300)
            time.sleep(5)  # any duplicate would show up now
            recovery = time.monotonic() - ends
            with env.session() as session:
                summaries = session.execute(select(func.count()).select_from(Summary)).scalar_one()
                deliveries = session.execute(
                    select(func.count()).select_from(Delivery)
                ).scalar_one()
            lost, doubled = audit(env, expected, LOAD)
            extra = (summaries - 1) + (deliveries - recipients) + (outbox_count(env) - recipients)
            return ScenarioResult(
                "Two beats and two workers racing a campaign end",
                LOAD,
                lost,
                doubled + extra,
                recovery,
                f"{summaries} summary version, {deliveries} delivery rows, "
                f"{outbox_count(env)} messages for {recipients} recipients",
            )
        finally:
            env.stop_all()


def scenario_smtp_down_then_up(tmp: Path) -> ScenarioResult:
    from aiosmtpd.controller import Controller

    from tests.smtp_server import ScriptedHandler

    recipients = 3
    port = free_port()
    with redis_server(appendonly=True) as broker:
        env = cluster_env(
            tmp,
            database_url=None,
            broker_url=broker.url,
            CAMPAIGNS_SMTP_URL=f"smtp://127.0.0.1:{port}",
        )
        controller = None
        try:
            expected = _import_under(env, tmp)
            for i in range(recipients):
                env.ok("recipients", "add", f"leader{i}@bureau.example")
            env.start("worker", "--concurrency", "2", ready="ready.")
            env.start("beat")
            start_import(env, tmp / "load.csv")
            settle(env, LOAD, timeout=600)
            env.ok("close", CAMPAIGN)
            wait_until(lambda: "retrying" in env.ok("deliveries"), timeout=120)
            handler = ScriptedHandler()
            controller = Controller(handler, hostname="127.0.0.1", port=port)
            controller.start()
            up = time.monotonic()
            wait_until(lambda: env.ok("deliveries").count(" sent ") >= recipients, timeout=300)
            recovery = time.monotonic() - up
            time.sleep(5)
            received = sorted(r for m in handler.messages for r in m.rcpt_tos)
            lost, doubled = audit(env, expected, LOAD)
            wanted = [f"leader{i}@bureau.example" for i in range(recipients)]
            extra = len(received) - len(set(received)) + len(set(wanted) - set(received))
            return ScenarioResult(
                "SMTP server down for the first attempts, then up",
                LOAD,
                lost,
                doubled + extra,
                recovery,
                f"{len(received)} messages for {recipients} recipients",
            )
        finally:
            if controller is not None:
                controller.stop()
            env.stop_all()


SCENARIOS: dict[str, Callable[[Path], ScenarioResult]] = {
    "worker-child-killed": scenario_worker_child_killed,
    "whole-worker-killed": scenario_whole_worker_killed,
    "redis-restart-aof": scenario_redis_restarted_with_aof,
    "redis-lost-no-persistence": scenario_redis_restarted_without_persistence,
    "postgres-down-30s": scenario_postgres_down_30s,
    "racing-dispatchers": scenario_racing_dispatchers,
    "smtp-down-then-up": scenario_smtp_down_then_up,
    "poison-chunk": scenario_poison_chunk,
}
