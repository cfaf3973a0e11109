"""Summary compile time on a province-sized campaign, against scanning the tallies.

    uv run python -m bench.summary [tallies]

Builds a SQLite campaign of `tallies` rows (default 1,000,000: 8 metrics x 8 days x 1,000
booths, about 15 tallies per booth, day and metric) with its rollups kept as the workers keep
them, then times, in the same run:

- naive: the totals, by-day and by-venue breakdowns as GROUP BY queries over the tally rows;
- this project: `summary.compile_figures` (every figure, target, trace and correction list,
  read from `tally_day_rollup` and `tally_venue_rollup`) plus rendering text, JSON, HTML and
  Markdown.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import Session

from campaigns.db import make_engine, upgrade_database
from campaigns.planning.campaigns import CampaignSpec, create_campaign, get_campaign
from campaigns.summaries.figures import compile_figures
from campaigns.summaries.render import render

CAMPAIGN = "2019-world-ip-day"
METRICS = (
    "materials",
    "attendance",
    "consultations",
    "boards",
    "lectures",
    "trainees",
    "units",
    "volunteers",
)


def build(path: Path, tallies: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    with Session(engine) as session:
        create_campaign(
            CampaignSpec(kind="world-ip-day", year=2019), session=session, actor="bench"
        )
        session.commit()
    engine.dispose()
    days = [date(2019, 4, 20) + timedelta(days=d) for d in range(7)]
    con = sqlite3.connect(path)
    rows = (
        (
            CAMPAIGN,
            METRICS[i % 8],
            1 + i % 40,
            f"{days[(i // 8) % 7]} 02:00:00.000000",
            days[(i // 8) % 7].isoformat(),
            f"booth{(i // 56) % 1000}",
            f"k{i}",
            0,
            "bench",
            "2019-04-27 00:00:00.000000",
        )
        for i in range(tallies)
    )
    con.executemany(
        "INSERT INTO tally (campaign_id, metric, quantity, occurred_at, day, venue, key,"
        " is_correction, source, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    con.execute(
        "INSERT INTO tally_day_rollup (campaign_id, metric, day, is_correction, total, tallies)"
        " SELECT campaign_id, metric, day, is_correction, sum(quantity), count(*)"
        " FROM tally GROUP BY 1, 2, 3, 4"
    )
    con.execute(
        "INSERT INTO tally_venue_rollup (campaign_id, metric, venue, total, tallies)"
        " SELECT campaign_id, metric, coalesce(venue, ''), sum(quantity), count(*)"
        " FROM tally GROUP BY 1, 2, 3"
    )
    con.commit()
    con.close()


def naive(path: Path) -> float:
    con = sqlite3.connect(path)
    start = time.perf_counter()
    for group in ("metric", "metric, day", "metric, venue"):
        con.execute(
            f"SELECT {group}, sum(quantity), count(*) FROM tally WHERE campaign_id = ?"
            f" GROUP BY {group}",
            (CAMPAIGN,),
        ).fetchall()
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def project(path: Path) -> tuple[float, float]:
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        start = time.perf_counter()
        figures = compile_figures(get_campaign(CAMPAIGN, session=session), session=session)
        compiled = time.perf_counter()
        for fmt in ("text", "json", "html", "markdown"):
            render(figures, lang="zh", fmt=fmt)  # type: ignore[arg-type]
        rendered = time.perf_counter()
    engine.dispose()
    return compiled - start, rendered - compiled


def main(tallies: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "summary.db"
        build(path, tallies)
        con = sqlite3.connect(path)
        rollups = sum(
            con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("tally_day_rollup", "tally_venue_rollup")
        )
        con.close()
        naive_s = statistics.median(naive(path) for _ in range(3))
        runs = [project(path) for _ in range(5)]
        figures_s = statistics.median(r[0] for r in runs)
        render_s = statistics.median(r[1] for r in runs)
    load = os.getloadavg()[0]
    print(f"SQLite, {tallies:,} tallies, {rollups:,} rollup rows, load {load:.1f}")
    print("| path | seconds (median) |")
    print("|---|---|")
    print(
        f"| naive: GROUP BY over the tally rows (totals, by day, by venue only) | {naive_s:.3f} |"
    )
    print(f"| this project: compile_figures from the rollups (everything) | {figures_s:.3f} |")
    print(f"| this project: render text + JSON + HTML + Markdown | {render_s:.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
