"""Tally ingestion end to end, against a naive path and against the database's own limit.

    uv run python -m bench.ingest [--db sqlite|postgresql|both] [--rows 1000000]
                                  [--naive-rows 5000] [--concurrency 2]

For each database it prints one table:

- naive: one Celery task per tally, one row per commit (bench/naive_worker.py), measured on
  `--naive-rows` tallies published from this process and reported as a rate;
- project: `campaigns import ID FILE --wait` of `--rows` rows as a real subprocess, from the
  command to the last tally counted (parsing and validation included), with one real
  `campaigns worker` process;
- limit: the same rows, already parsed, inserted straight into the `tally` table in chunks of
  the project's chunk size, one transaction each (sqlite3 executemany; PostgreSQL COPY).

Between the limit and the project the server is settled (`settle`): the vacuum, analyze and
checkpoint that a million new rows set off would otherwise run during the project's import.

Peak worker memory is the summed RSS of the worker's process tree, sampled every 0.1 s from
/proc. Then `campaigns summary ID --format json` is timed on the imported campaign, and the
stored rows and rollups are checked against the file.

PostgreSQL and Redis are private servers started here (tests/servers.py). Subprocesses
cache bytecode under the run's temporary directory (as an installed package has it),
because this environment may set PYTHONDONTWRITEBYTECODE, which would add seconds of
compiling to every command.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from tests.servers import PostgresServer, RedisServer, fresh_database

PYTHON = sys.executable
CAMPAIGNS = str(Path(PYTHON).with_name("campaigns"))
CAMPAIGN = "2019-province-booths"
FIRST_DAY, LAST_DAY = "2019-04-15", "2019-04-22"
ZONE = ZoneInfo("Asia/Shanghai")
COLUMNS = (
    "campaign_id, metric, quantity, item, venue, occurred_at, day, recorded_by, key, note,"
    " is_correction, reason, source, created_at"
)


def write_file(path: Path, rows: int, seed: int = 415) -> None:
    """A province's booths over a week, as the county sheets put one after another: 1,000
    booths in 10 counties, each booth's rows in time order (to the minute); 11 metrics (ids
    and Chinese names), 300 recorders; no key column, so keys are derived."""
    rnd = random.Random(seed)
    metrics = [
        "materials",
        "attendance",
        "consultations",
        "legal-services",
        "lectures",
        "boards",
        "宣传资料",
        "参与人次",
        "咨询",
        "volunteers",
        "units",
    ]
    venues = [f"{county}县第{n}宣传点" for county in "东西南北中上下左右内" for n in range(100)]
    items = ["", "宣传册", "折页", "手提袋"]
    names = [f"记录员{n:03d}" for n in range(300)]
    start = datetime(2019, 4, 15, 8, 0)
    times = [(start + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M") for m in range(7 * 1440)]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("时间,指标,数量,物品,地点,记录人\n")
        for index, venue in enumerate(venues):
            n = rows // len(venues) + (index < rows % len(venues))
            lines = map(
                ",".join,
                zip(
                    sorted(rnd.choices(times, k=n)),
                    rnd.choices(metrics, k=n),
                    map(str, (rnd.randint(1, 999) for _ in range(n))),
                    rnd.choices(items, k=n),
                    [venue] * n,
                    rnd.choices(names, k=n),
                    strict=True,
                ),
            )
            out.write("".join(line + "\n" for line in lines))


@dataclass
class Installation:
    vars: dict[str, str]
    url: str
    data_dir: Path

    def run(self, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [CAMPAIGNS, *args],
            env=self.vars,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.data_dir,
        )
        if result.returncode != 0:
            raise RuntimeError(f"campaigns {' '.join(args)}: {result.stderr}{result.stdout}")
        return result


def install(url: str, broker: str, data_dir: Path, pycache: Path) -> Installation:
    data_dir.mkdir(parents=True, exist_ok=True)
    variables = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CAMPAIGNS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    variables.update(
        CAMPAIGNS_DATABASE_URL=url,
        CAMPAIGNS_BROKER_URL=broker,
        CAMPAIGNS_DATA_DIR=str(data_dir),
        CAMPAIGNS_ACTOR="bench",
        PYTHONPYCACHEPREFIX=str(pycache),
    )
    inst = Installation(variables, url, data_dir)
    inst.run("init")
    inst.run(
        "create",
        "province-booths",
        "--year",
        "2019",
        "--start",
        FIRST_DAY,
        "--end",
        LAST_DAY,
        "--id",
        CAMPAIGN,
    )
    return inst


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError):
                continue
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in family]
        family.update(children)
        frontier += children
    total = 0
    for member in family:
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


@contextmanager
def worker(inst: Installation, command: list[str]) -> Iterator[list[int]]:
    """A worker process until the block ends; yields [peak tree RSS] (sampled every 0.1 s)."""
    log = (inst.data_dir / "worker.log").open("w")
    process = subprocess.Popen(
        command,
        env=inst.vars,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=inst.data_dir,
        start_new_session=True,
    )
    peak = [0]
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 120
        while "ready." not in (inst.data_dir / "worker.log").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((inst.data_dir / "worker.log").read_text())
            time.sleep(0.2)
        peak[0] = tree_rss(process.pid)

        def sample() -> None:
            while not stop.wait(0.1):
                peak[0] = max(peak[0], tree_rss(process.pid))

        threading.Thread(target=sample, daemon=True).start()
        yield peak
    finally:
        stop.set()
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


def scalar(url: str, query: str) -> int:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return int(connection.execute(query).fetchone()[0] or 0)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        row = connection.execute(query).fetchone()  # type: ignore[arg-type]
        return int(row[0] or 0) if row else 0


def naive(inst: Installation, tallies: int, concurrency: int) -> tuple[float, int]:
    """Rate (tallies/s) and peak worker RSS of one task per tally."""
    from celery import Celery

    producer = Celery(broker=inst.vars["CAMPAIGNS_BROKER_URL"])
    producer.conf.task_default_queue = "campaigns"
    moment = datetime(2019, 4, 16, 2, 0, tzinfo=UTC).isoformat()
    command = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "bench.naive_worker",
        "worker",
        f"--concurrency={concurrency}",
        "-Q",
        "campaigns",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=WARNING",
    ]
    # celery's own banner does not print "ready." at WARNING; ask for INFO to see it.
    command[-1] = "--loglevel=INFO"
    with worker(inst, command) as peak:
        started = time.perf_counter()
        with producer.producer_or_acquire() as publisher:
            for n in range(tallies):
                tally = {
                    "metric": "materials",
                    "quantity": 1 + n % 500,
                    "item": None,
                    "venue": f"宣传点{n % 1000}",
                    "occurred_at": moment,
                    "recorded_by": "bench",
                    "key": f"naive-{n}",
                }
                producer.send_task("bench.store_one", args=[CAMPAIGN, tally], producer=publisher)
        while scalar(inst.url, "SELECT count(*) FROM tally") < tallies:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    return tallies / elapsed, peak[0]


def project(
    inst: Installation, path: Path, rows: int, concurrency: int
) -> tuple[float, int, str, str]:
    """Rate (tallies/s) of the real `campaigns import --wait`, peak worker RSS, its last line,
    and where the time went (from the batch's own timestamps in the database)."""
    command = [CAMPAIGNS, "worker", "--concurrency", str(concurrency), "--loglevel", "INFO"]
    with worker(inst, command) as peak:
        began = datetime.now(UTC).replace(tzinfo=None)
        started = time.perf_counter()
        result = inst.run("import", CAMPAIGN, str(path), "--wait", "--timeout", "3600")
        elapsed = time.perf_counter() - started
    return rows / elapsed, peak[0], result.stdout.strip().splitlines()[-1], phases(inst, began)


def phases(inst: Installation, began: datetime) -> str:
    """Seconds from the command to the batch row (reading and validating the file), to the
    last chunk published, and from the first to the last chunk stored."""
    query = (
        "SELECT b.created_at, b.published_at, min(c.done_at), max(c.done_at)"
        " FROM tally_batch b JOIN tally_batch_chunk c ON c.batch_id = b.id GROUP BY b.id"
    )
    if inst.url.startswith("sqlite"):
        with sqlite3.connect(inst.url.removeprefix("sqlite:///")) as connection:
            texts = connection.execute(query).fetchone()
        created, published, first, last = (datetime.fromisoformat(t) for t in texts)
    else:
        with psycopg.connect(inst.url.replace("postgresql+psycopg://", "postgresql://")) as pg:
            created, published, first, last = pg.execute(query).fetchone()  # type: ignore[misc]

    def after(moment: datetime) -> float:
        return (moment - began).total_seconds()

    return (
        f"validated at {after(created):.1f} s, published by {after(published):.1f} s, "
        f"stored from {after(first):.1f} to {after(last):.1f} s"
    )


def limit(url: str, path: Path, chunk: int) -> float:
    """Rows/s of the same rows, parsed beforehand, bulk-inserted in chunk-size transactions."""
    from campaigns.planning.metrics import MetricCatalogue
    from campaigns.tallies.encoding import utc_text
    from campaigns.tallies.sheets.reader import read_tally_file

    start = datetime(2019, 4, 14, 16, tzinfo=UTC)
    report = read_tally_file(
        path,
        campaign_id=CAMPAIGN,
        catalogue=MetricCatalogue(),
        timezone=ZONE,
        window=(start, start + timedelta(days=8)),
    )
    now = utc_text(datetime.now(UTC))
    texts: dict[datetime | None, tuple[str, str]] = {}
    rows = []
    for r in report.rows:
        moment = r.occurred_at or start
        if moment not in texts:
            texts[moment] = (utc_text(moment), moment.astimezone(ZONE).date().isoformat())
        at, day = texts[moment]
        fields = (r.metric, r.quantity, r.item, r.venue, at, day, r.recorded_by, r.key, r.note)
        rows.append((CAMPAIGN, *fields, False, None, "limit", now))
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        statement = f"INSERT INTO tally ({COLUMNS}) VALUES ({', '.join('?' * 14)})"
        started = time.perf_counter()
        for first in range(0, len(rows), chunk):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(statement, rows[first : first + chunk])
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
    else:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
            started = time.perf_counter()
            for first in range(0, len(rows), chunk):
                with pg.transaction(), pg.cursor().copy(f"COPY tally ({COLUMNS}) FROM STDIN") as cp:
                    for row in rows[first : first + chunk]:
                        cp.write_row(row)
            elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def settle(url: str) -> None:
    """Do now what the server would do later because of the run that just ended, so that it
    does not run during the next measurement: on PostgreSQL, the autovacuum and analyze a
    million new rows trigger (within a minute) and a checkpoint; then flush dirty pages."""
    if not url.startswith("sqlite"):
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE tally")
            connection.execute("CHECKPOINT")
    os.sync()
    time.sleep(2)


def summary_seconds(inst: Installation) -> tuple[float, float, dict[str, int]]:
    """Wall time of `campaigns summary --format json` (best of 3), and of the figures alone."""
    walls = []
    figures: dict[str, int] = {}
    for _ in range(3):
        started = time.perf_counter()
        out = inst.run("summary", CAMPAIGN, "--format", "json").stdout
        walls.append(time.perf_counter() - started)
        data = json.loads(out)
        figures = {m: v["total"] for m, v in data["metrics"].items()}
    code = (
        "import time; from campaigns.db import session_scope;"
        "from campaigns.planning.campaigns import get_campaign;"
        "from campaigns.summaries.figures import compile_figures\n"
        "with session_scope() as s:\n"
        f"    c = get_campaign({CAMPAIGN!r}, session=s); compile_figures(c, session=s)\n"
        "    t = time.perf_counter()\n"
        "    for _ in range(5): compile_figures(c, session=s)\n"
        "    print((time.perf_counter() - t) / 5)"
    )
    inner = subprocess.run(
        [PYTHON, "-c", code], env=inst.vars, capture_output=True, text=True, check=True
    )
    return min(walls), float(inner.stdout.strip()), figures


def expected_totals(path: Path) -> tuple[int, int]:
    rows = quantity = 0
    with path.open(encoding="utf-8") as file:
        next(file)
        for line in file:
            rows += 1
            quantity += int(line.split(",")[2])
    return rows, quantity


def measure(
    kind: str, url_of: dict[str, str], broker: str, path: Path, args: argparse.Namespace, tmp: Path
) -> None:
    from campaigns.settings import Settings

    chunk = Settings().import_chunk_size
    pycache = tmp / "pycache"
    load = os.getloadavg()[0]

    with ExitStack() as stack:

        def database(name: str) -> str:
            if kind == "sqlite":
                return f"sqlite:///{tmp / name / 'campaigns.db'}"
            return stack.enter_context(fresh_database(url_of["postgresql"]))

        naive_url = database("naive")
        naive_rate, naive_rss = naive(
            install(naive_url, broker + "1", tmp / "naive", pycache),
            args.naive_rows,
            args.concurrency,
        )
        limit_url = database("limit")
        install(limit_url, broker + "2", tmp / "limit", pycache)
        limit_rate = limit(limit_url, path, chunk)
        settle(limit_url)
        project_url = database("project")
        inst = install(project_url, broker + "3", tmp / "project", pycache)
        project_rate, project_rss, said, timeline = project(inst, path, args.rows, args.concurrency)
        summary_wall, figures_seconds, figures = summary_seconds(inst)
        rows, quantity = expected_totals(path)
        stored = scalar(project_url, "SELECT count(*) FROM tally")
        rolled = scalar(project_url, "SELECT sum(total) FROM tally_day_rollup")
        counted = scalar(project_url, "SELECT sum(tallies) FROM tally_day_rollup")
        by_venue = scalar(project_url, "SELECT sum(total) FROM tally_venue_rollup")
        summed = scalar(project_url, "SELECT sum(quantity) FROM tally")
    ok = stored == rows == counted and rolled == by_venue == quantity == summed == sum(
        figures.values()
    )
    print(
        f"\n{kind}: {args.rows:,} rows, chunk {chunk:,}, worker --concurrency "
        f"{args.concurrency}, load average {load:.1f} before the run (2 cores)"
    )
    print("| path | tallies/s end to end | peak worker memory |")
    print("|---|---|---|")
    print(
        f"| naive: one Celery task per tally, one row per commit ({args.naive_rows:,} tallies) "
        f"| {naive_rate:,.0f} | {naive_rss / 2**20:.0f} MB |"
    )
    print(
        f"| this project: `campaigns import --wait` of {args.rows:,} rows, command to counted "
        f"| {project_rate:,.0f} | {project_rss / 2**20:.0f} MB |"
    )
    print(f"| the limit: same rows bulk-inserted, no broker | {limit_rate:,.0f} | – |")
    print(
        f"\nproject/naive {project_rate / naive_rate:.1f}x, project/limit "
        f"{100 * project_rate / limit_rate:.0f}%; `campaigns summary --format json` "
        f"{summary_wall:.2f} s wall ({figures_seconds * 1000:.0f} ms compiling the figures); "
        f"import said: {said!r}; stored {stored:,} rows, rollups {'match' if ok else 'DIFFER'}; "
        f"import timeline: {timeline}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as name, ExitStack() as stack:
        tmp = Path(name)
        path = tmp / "tallies.csv"
        write_file(path, args.rows)
        redis_server = stack.enter_context(RedisServer())
        broker = redis_server.url.rsplit("/", 1)[0] + "/"
        urls: dict[str, str] = {}
        if "postgresql" in kinds:
            urls["postgresql"] = stack.enter_context(PostgresServer()).url
        for kind in kinds:
            measure(kind, urls, broker, path, args, tmp / kind)


if __name__ == "__main__":
    main()
