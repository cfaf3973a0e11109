"""Progress and by-unit figures on a province's campaigns, against scanning the tallies.

    uv run python -m bench.units [--db sqlite|postgresql|both] [--per-unit 10000]
                                 [--campaigns 4]

Builds 100 counties under 10 cities under one province, and one campaign per observance
(`--campaigns`, up to 4) in which every county takes part and holds `--per-unit` tallies
(default 10,000: a 1,000,000-tally campaign with 100 units); 90 of the counties have
reported. Tallies are bulk-inserted (sqlite3 executemany; PostgreSQL COPY) and the rollups
built with one INSERT … SELECT each that keeps what `campaigns.tallies.store` keeps: per
metric and day (corrections apart), per metric and venue, per metric and unit (`''` for
the organiser's own). Then it times, in the same run, on the first campaign:

- naive: `GROUP BY unit, metric` over the campaign's tally rows (the by-unit totals only);
- `progress_of` (with the unit directory it needs) and `tallies.by_unit.campaign_progress`
  (what `campaigns progress` prints: each participant's reported state, tallies and totals);
- `summaries.figures.compile_figures`: every figure and the by-unit breakdown (each
  county's totals, tallies, share and reporting state), read from the rollups.

PostgreSQL runs on CAMPAIGNS_TEST_DATABASE_URL's server (a fresh database there), and is
left out when that is not set.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.db import make_engine, upgrade_database
from campaigns.models import ReportHow
from campaigns.planning.campaigns import CampaignSpec, create_campaign, get_campaign, local_days
from campaigns.planning.observances import get_observance
from campaigns.planning.participants import add_participants, mark_reported, progress_of
from campaigns.planning.units import UnitRow, import_units, load_directory
from campaigns.summaries.figures import compile_figures
from campaigns.tallies.by_unit import campaign_progress
from tests.servers import fresh_database

YEAR = 2019
KINDS = ("world-ip-day", "national-security-day", "constitution-day", "sci-tech-week")
CITIES, COUNTIES_PER_CITY = 10, 10
REPORTED = 90
COLUMNS = (
    "campaign_id, metric, quantity, occurred_at, day, venue, key, is_correction, source,"
    " created_at, unit"
)
ROLLUPS = (
    "INSERT INTO tally_day_rollup (campaign_id, metric, day, is_correction, total, tallies)"
    " SELECT campaign_id, metric, day, is_correction, sum(quantity), count(*)"
    " FROM tally GROUP BY 1, 2, 3, 4",
    "INSERT INTO tally_venue_rollup (campaign_id, metric, venue, total, tallies)"
    " SELECT campaign_id, metric, coalesce(venue, ''), sum(quantity), count(*)"
    " FROM tally GROUP BY 1, 2, 3",
    "INSERT INTO tally_unit_rollup (campaign_id, metric, unit, total, tallies)"
    " SELECT campaign_id, metric, coalesce(unit, ''), sum(quantity), count(*)"
    " FROM tally GROUP BY 1, 2, 3",
)
NAIVE = (
    "SELECT unit, metric, sum(quantity), count(*) FROM tally WHERE campaign_id = :c"
    " GROUP BY unit, metric"
)


def counties() -> list[str]:
    return [f"41{c + 1:02d}{n + 1:02d}" for c in range(CITIES) for n in range(COUNTIES_PER_CITY)]


def plan(engine: Engine, kinds: tuple[str, ...]) -> list[str]:
    """The units, the campaigns and their participants, through the project's own code."""
    rows = [UnitRow("410000", "河南省", None, None, "bench:1")]
    for c in range(CITIES):
        city = f"41{c + 1:02d}00"
        rows.append(UnitRow(city, f"第{c + 1}市", "410000", None, "bench"))
        rows += [
            UnitRow(f"41{c + 1:02d}{n + 1:02d}", f"第{c + 1}市{n + 1}县", city, None, "bench")
            for n in range(COUNTIES_PER_CITY)
        ]
    ids = []
    with Session(engine) as session:
        import_units(rows, session=session, actor="bench")
        for kind in kinds:
            campaign = create_campaign(
                CampaignSpec(kind=kind, year=YEAR), session=session, actor="bench"
            )
            # Reports due three days after the last (UTC midnight: only its being set matters).
            after = local_days(campaign)[1] + timedelta(days=4)
            campaign.report_by = datetime.combine(after, datetime.min.time(), UTC)
            session.add(campaign)
            add_participants(
                campaign.id, counties(), session=session, actor="bench", now=campaign.start_at
            )
            mark_reported(
                campaign.id,
                counties()[:REPORTED],
                how=ReportHow.imported,
                session=session,
                actor="bench",
            )
            ids.append(campaign.id)
        session.commit()
    return ids


def tallies(engine: Engine, campaign_id: str, per_unit: int) -> Iterator[tuple[object, ...]]:
    with Session(engine) as session:
        campaign = get_campaign(campaign_id, session=session)
        first, last = local_days(campaign)
    observance = get_observance(campaign.kind)
    assert observance is not None
    metrics = observance.headline_metrics
    days = [first + timedelta(days=d) for d in range((last - first).days + 1)]
    for u, unit in enumerate(counties()):
        for i in range(per_unit):
            day: date = days[i % len(days)]
            yield (
                campaign_id,
                metrics[i % len(metrics)],
                1 + (i * 7 + u) % 40,
                f"{day} 02:00:00.000000",
                day.isoformat(),
                f"{unit}-site{i % 20}",
                f"{unit}-{i}",
                False,
                "bench",
                "2019-12-31 00:00:00.000000",
                unit,
            )


def load_sqlite(path: str, rows: Iterator[tuple[object, ...]]) -> None:
    con = sqlite3.connect(path)
    con.executemany(
        f"INSERT INTO tally ({COLUMNS}) VALUES ({', '.join('?' * 11)})",
        ((*r[:7], int(bool(r[7])), *r[8:]) for r in rows),
    )
    con.commit()
    con.close()


def load_postgres(url: str, rows: Iterator[tuple[object, ...]]) -> None:
    with (
        psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg,
        pg.cursor() as cursor,
        cursor.copy(f"COPY tally ({COLUMNS}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def finish(engine: Engine) -> None:
    with engine.begin() as connection:
        for statement in ROLLUPS:
            connection.execute(text(statement))
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE")
        )


def median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(engine: Engine, campaign_id: str) -> dict[str, float]:
    with Session(engine) as session:
        campaign = get_campaign(campaign_id, session=session)

        def naive() -> None:
            session.execute(text(NAIVE), {"c": campaign_id}).fetchall()

        def progress() -> None:
            progress_of(campaign, session=session, directory=load_directory(session=session))

        def progress_command() -> None:
            campaign_progress(campaign, session=session)

        def figures() -> None:
            by_unit = compile_figures(campaign, session=session)["by_unit"]
            assert len(by_unit["units"]) == CITIES * COUNTIES_PER_CITY

        return {
            "naive": median(naive, 3),
            "progress_of": median(progress, 5),
            "campaign_progress": median(progress_command, 5),
            "compile_figures": median(figures, 5),
        }


def run(kind: str, url: str, per_unit: int, campaigns: int) -> None:
    engine = make_engine(url)
    upgrade_database(engine)
    ids = plan(engine, KINDS[:campaigns])
    start = time.perf_counter()
    for campaign_id in ids:
        rows = tallies(engine, campaign_id, per_unit)
        if kind == "sqlite":
            load_sqlite(url.removeprefix("sqlite:///"), rows)
        else:
            load_postgres(url, rows)
    finish(engine)
    loaded = time.perf_counter() - start
    with engine.connect() as connection:
        total = connection.execute(text("SELECT count(*) FROM tally")).scalar_one()
        rollup = connection.execute(
            text("SELECT count(*) FROM tally_unit_rollup WHERE campaign_id = :c"), {"c": ids[0]}
        ).scalar_one()
    times = measure(engine, ids[0])
    engine.dispose()
    one = per_unit * len(counties())
    print(
        f"\n{kind}: {len(ids)} campaigns, {total:,} tallies (loaded and rolled up in"
        f" {loaded:.0f} s); timed on {ids[0]}: {one:,} tallies, {len(counties())} counties"
        f" under {CITIES} cities, {rollup} unit-rollup rows; load {os.getloadavg()[0]:.1f}"
    )
    print("| path | seconds (median) |")
    print("|---|---|")
    print(f"| naive: GROUP BY unit, metric over the tally rows | {times['naive']:.3f} |")
    print(f"| progress_of (with the unit directory) | {times['progress_of']:.3f} |")
    print(
        "| campaign_progress (`campaigns progress`: states, tallies, totals)"
        f" | {times['campaign_progress']:.3f} |"
    )
    print(
        "| compile_figures (every figure, by-unit breakdown with shares)"
        f" | {times['compile_figures']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--per-unit", type=int, default=10_000)
    parser.add_argument("--campaigns", type=int, choices=range(1, len(KINDS) + 1), default=4)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    server = os.environ.get("CAMPAIGNS_TEST_DATABASE_URL")
    with ExitStack() as stack:
        for kind in kinds:
            if kind == "sqlite":
                tmp = stack.enter_context(tempfile.TemporaryDirectory())
                url = f"sqlite:///{tmp}/units.db"
            elif server:
                url = stack.enter_context(fresh_database(server))
            else:
                print("postgresql: left out (CAMPAIGNS_TEST_DATABASE_URL is not set)")
                continue
            run(kind, url, args.per_unit, args.campaigns)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
