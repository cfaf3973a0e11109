"""The soak run: load held for minutes while workers die and Redis restarts (not a test).

uv run python -m bench.soak [--minutes 10] [--drivers 3]

100 reporting units send to 4 running campaigns for the whole run: `campaigns import` of a
unit's sheet (100-1,500 rows) or a burst of `campaigns log --key`, from `--drivers` threads
at once. A command that fails (the broker is restarting, say) is repeated as a user
would, unchanged, until it succeeds: every repeat must count nothing twice. Meanwhile the
whole worker is SIGKILLed every minute and started again, and Redis (AOF on) is restarted
once, half-way. Then the load stops, every tally must be counted, the four campaigns end,
and each recipient must get exactly one summary per campaign.

Everything runs on the default reliability settings (tests/chaos_harness.cluster_env);
the database is PostgreSQL (CAMPAIGNS_TEST_DATABASE_URL's server, else a private one).
Prints a table: the figures of the README's reliability section.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos_harness import (
    METRICS,
    audit,
    cluster_env,
    counted,
    force_end_now,
    outbox_count,
    sigkill_group,
    wait_until,
    worker_children,
)
from tests.conftest import Env, create_running_campaign
from tests.servers import RedisServer, fresh_database, postgres_url_for_tests

UNITS = [f"县区{n:02d}" for n in range(100)]
CAMPAIGNS = ("soak-a", "soak-b", "soak-c", "soak-d")
RECIPIENTS = 3


@dataclass
class Ledger:
    """What was accepted (exit 0), per campaign: keys and totals by metric."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: Counter[str] = field(default_factory=Counter)
    totals: dict[str, Counter[str]] = field(
        default_factory=lambda: {c: Counter() for c in CAMPAIGNS}
    )
    commands: int = 0
    repeats: int = 0

    def accept(self, campaign: str, rows: list[tuple[str, str, int]], repeats: int) -> None:
        with self.lock:
            self.commands += 1
            self.repeats += repeats
            self.keys[campaign] += len(rows)
            for _, metric, quantity in rows:
                self.totals[campaign][metric] += quantity


def _rows(rng: random.Random, prefix: str, count: int) -> list[tuple[str, str, int]]:
    return [(f"{prefix}-{i}", rng.choice(METRICS), rng.randint(1, 60)) for i in range(count)]


def _until_accepted(env: Env, args: list[str], stop_by: float) -> int:
    """Run the command until it exits 0, as a user repeats what seemed to fail; repeats."""
    repeats = 0
    while True:
        result = env.run(*args, timeout=300)
        if result.returncode == 0:
            return repeats
        if time.monotonic() > stop_by:
            raise RuntimeError(f"campaigns {args[0]} kept failing: {result.stderr.strip()}")
        repeats += 1
        time.sleep(1)


def _driver(env: Env, ledger: Ledger, seed: int, until: float, work: Path) -> None:
    rng = random.Random(seed)
    n = 0
    while time.monotonic() < until:
        n += 1
        unit, campaign = rng.choice(UNITS), rng.choice(CAMPAIGNS)
        prefix = f"{unit}-{seed}-{n}"
        if rng.random() < 0.7:
            rows = _rows(rng, prefix, rng.randint(100, 1500))
            sheet = work / f"{prefix}.csv"
            with sheet.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["编号", "指标", "数量", "地点"])
                writer.writerows([key, metric, qty, unit] for key, metric, qty in rows)
            repeats = _until_accepted(env, ["import", campaign, str(sheet)], until + 600)
            ledger.accept(campaign, rows, repeats)
        else:
            for key, metric, qty in _rows(rng, prefix, 3):
                args = ["log", campaign, metric, str(qty), "--venue", unit, "--key", key]
                repeats = _until_accepted(env, [*args, "--wait", "0"], until + 600)
                ledger.accept(campaign, [(key, metric, qty)], repeats)


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _redis_rss_kib(url: str) -> int:
    import redis as redis_client

    try:
        with redis_client.Redis.from_url(url, socket_timeout=2) as client:
            return int(client.info("memory")["used_memory_rss"]) // 1024
    except redis_client.RedisError:
        return 0  # restarting


@contextmanager
def _database() -> Iterator[str]:
    with postgres_url_for_tests() as server, fresh_database(server) as url:
        yield url


def run(minutes: float, drivers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp_name, _database() as database:
        tmp = Path(tmp_name)
        (tmp / "sheets").mkdir()
        with RedisServer(appendonly=True) as redis:
            env = cluster_env(tmp, database_url=database, broker_url=redis.url)
            try:
                _soak(env, redis, tmp, minutes, drivers)
            finally:
                env.stop_all()


def _soak(env: Env, redis: RedisServer, tmp: Path, minutes: float, drivers: int) -> None:
    for campaign in CAMPAIGNS:
        create_running_campaign(env, campaign)
    for i in range(RECIPIENTS):
        env.ok("recipients", "add", f"leader{i}@bureau.example")
    worker = env.start("worker", "--concurrency", "2", ready="ready.")
    env.start("beat")
    ledger = Ledger()
    started = time.monotonic()
    until = started + minutes * 60
    threads = [
        threading.Thread(target=_driver, args=(env, ledger, seed, until, tmp / "sheets"))
        for seed in range(drivers)
    ]
    for thread in threads:
        thread.start()
    samples: list[tuple[float, int, int]] = []
    kills, redis_restarted, next_kill = 0, False, started + 60
    while any(t.is_alive() for t in threads):
        now = time.monotonic()
        worker_rss = _rss_kib(worker.pid) + sum(_rss_kib(c) for c in worker_children(worker.pid))
        samples.append((now - started, worker_rss, _redis_rss_kib(redis.url)))
        if now >= next_kill and now < until:
            sigkill_group(worker.pid)
            worker.wait()
            kills += 1
            worker = env.start("worker", "--concurrency", "2", ready="ready.")
            next_kill = now + 60
        if not redis_restarted and now - started >= minutes * 30:
            redis.restart()
            redis_restarted = True
        time.sleep(5)
    load_seconds = time.monotonic() - started
    accepted = sum(ledger.keys.values())
    wait_until(lambda: counted_all(env) >= accepted, timeout=900, every=2)
    drained = time.monotonic() - started - load_seconds
    lost = doubled = 0
    for campaign in CAMPAIGNS:
        expected = {m: ledger.totals[campaign][m] for m in METRICS}
        campaign_lost, campaign_doubled = audit(env, expected, ledger.keys[campaign], campaign)
        lost, doubled = lost + campaign_lost, doubled + campaign_doubled
    for campaign in CAMPAIGNS:
        force_end_now(env, campaign, seconds_from_now=2)
    wanted = len(CAMPAIGNS) * RECIPIENTS
    wait_until(lambda: outbox_count(env) >= wanted, timeout=600, every=1)
    time.sleep(15)  # a duplicate would show up now
    messages = outbox_count(env)
    _print(ledger, load_seconds, drained, kills, lost, doubled, messages, wanted, samples)


def counted_all(env: Env) -> int:
    return sum(max(counted(env, c), 0) for c in CAMPAIGNS)


def _print(
    ledger: Ledger,
    load_seconds: float,
    drained: float,
    kills: int,
    lost: int,
    doubled: int,
    messages: int,
    wanted: int,
    samples: list[tuple[float, int, int]],
) -> None:
    def peak(rows: list[tuple[float, int, int]], column: int) -> float:
        return max((r[column] for r in rows), default=0) / 1024

    window = 120.0
    first = [s for s in samples if s[0] <= window]
    last = [s for s in samples if s[0] >= samples[-1][0] - window] if samples else []
    print("| soak | value |")
    print("|---|---|")
    print(f"| load held | {load_seconds / 60:.1f} min, {len(UNITS)} units, 4 campaigns |")
    print(f"| commands accepted (import, log) | {ledger.commands:,} |")
    print(f"| commands repeated after a failure | {ledger.repeats:,} |")
    print(f"| tallies accepted | {sum(ledger.keys.values()):,} |")
    print(f"| whole-worker SIGKILLs / Redis restarts | {kills} / 1 |")
    print(f"| counted after the load stopped, within | {drained:.1f} s |")
    print(f"| lost / doubled | {lost} / {doubled} |")
    print(f"| summary mails (exactly one per campaign and recipient) | {messages} of {wanted} |")
    print(
        f"| worker peak RSS, first / last {window / 60:.0f} min | "
        f"{peak(first, 1):.0f} / {peak(last, 1):.0f} MiB |"
    )
    print(
        f"| Redis peak RSS, first / last {window / 60:.0f} min | "
        f"{peak(first, 2):.0f} / {peak(last, 2):.0f} MiB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--drivers", type=int, default=3)
    options = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run(options.minutes, options.drivers)


if __name__ == "__main__":
    main()
