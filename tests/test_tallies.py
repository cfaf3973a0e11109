"""Tallies through the real CLI, Redis and a real worker, on SQLite and PostgreSQL: imports
count exactly once, bad files store nothing, rollups equal a fresh sum over the rows."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from sqlalchemy import func, select, text
from sqlmodel import Session

from campaigns.models import CampaignStatus, Tally, TallyBatch, TallyBatchChunk, utcnow
from campaigns.planning.lifecycle import transition
from campaigns.tallies.encoding import encode_chunk
from campaigns.tallies.store import store_chunk
from tests.conftest import Env, insert_campaign

CAMPAIGN = "2019-national-security-day"  # 2019-04-15 to 2019-04-22, Asia/Shanghai
HEADER = ["时间", "指标", "数量", "物品", "地点", "记录人"]


def _create(env: Env) -> None:
    env.ok(
        "create",
        "national-security-day",
        "--year",
        "2019",
        "--start",
        "2019-04-15",
        "--end",
        "2019-04-22",
    )


def _rows(count: int, *, start: int = 0) -> list[list[str]]:
    metrics = ["materials", "宣传资料", "attendance", "consultations", "boards"]
    venues = ["新世纪广场", "市民中心", "", "科技馆"]
    return [
        [
            f"2019-04-{15 + n % 8} {8 + n % 10:02d}:{n % 60:02d}",
            metrics[n % len(metrics)],
            str(1 + n % 97),
            "折页" if n % 3 else "",
            venues[n % len(venues)],
            f"记录员{n % 7}",
        ]
        for n in range(start, start + count)
    ]


def _write(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        csv.writer(out).writerows([HEADER, *rows])
    return path


def _expected(rows: list[list[str]]) -> dict[str, int]:
    names = {"宣传资料": "materials"}
    totals: dict[str, int] = {}
    for row in rows:
        metric = names.get(row[1], row[1])
        totals[metric] = totals.get(metric, 0) + int(row[2])
    return totals


def _totals(env: Env) -> dict[str, int]:
    figures = json.loads(env.ok("summary", CAMPAIGN, "--format", "json"))
    return {metric: values["total"] for metric, values in figures["metrics"].items()}


def _count(env: Env, query: str) -> int:
    with env.session() as session:
        return int(session.execute(text(query)).scalar_one())


def _rollups_match_rows(session: Session) -> None:
    """Both rollups equal a fresh GROUP BY over every tally row."""
    for fresh_sql, rolled_sql in (
        (
            "SELECT campaign_id, metric, day, is_correction, sum(quantity), count(*)"
            " FROM tally GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            "SELECT campaign_id, metric, day, is_correction, total, tallies"
            " FROM tally_day_rollup ORDER BY 1, 2, 3, 4",
        ),
        (
            "SELECT campaign_id, metric, coalesce(venue, ''), sum(quantity), count(*)"
            " FROM tally GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            "SELECT campaign_id, metric, venue, total, tallies"
            " FROM tally_venue_rollup ORDER BY 1, 2, 3",
        ),
    ):
        fresh = session.execute(text(fresh_sql)).all()
        rolled = session.execute(text(rolled_sql)).all()
        assert [tuple(r) for r in rolled] == [tuple(r) for r in fresh]
        assert fresh, "nothing was stored"


def test_the_same_file_twice_counts_once_and_says_so(worker_env: Env, tmp_path: Path) -> None:
    env = worker_env
    _create(env)
    rows = _rows(3000)
    path = _write(tmp_path / "booths.csv", rows)

    first = env.ok("import", CAMPAIGN, str(path), "--wait")
    assert "3,000 new, 0 already counted" in first
    again = env.ok("import", CAMPAIGN, str(path), "--wait")
    assert "0 new, 3,000 already counted" in again

    # The same rows in another file (another name, one row more): only the new row counts.
    extended = _write(tmp_path / "booths-v2.csv", [*rows, *_rows(1, start=5000)])
    assert "1 new, 3,000 already counted" in env.ok("import", CAMPAIGN, str(extended), "--wait")

    assert _totals(env) == _expected([*rows, *_rows(1, start=5000)])
    assert _count(env, "SELECT count(*) FROM tally") == 3001
    with env.session() as session:
        _rollups_match_rows(session)


def test_one_bad_row_in_ten_thousand_stores_nothing_unless_skipped(
    worker_env: Env, tmp_path: Path
) -> None:
    env = worker_env
    # Several chunks (the default is 5,000), so that "nothing stored" spans chunks.
    env.vars["CAMPAIGNS_IMPORT_CHUNK_SIZE"] = "2000"
    _create(env)
    rows = _rows(10_000)
    rows[6000][2] = "三百"  # spreadsheet row 6002: header is row 1
    path = _write(tmp_path / "province.csv", rows)

    refused = env.run("import", CAMPAIGN, str(path), "--wait")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    # One line per bad cell, then the verdict; the progress bar leaves nothing behind.
    assert lines == [
        "campaigns: province.csv: row 6002, column 数量: not a whole number: '三百'",
        "campaigns: province.csv: 1 bad rows (1 errors); nothing stored (fix them, or"
        " --skip-invalid to store the good rows)",
    ]
    assert _count(env, "SELECT count(*) FROM tally") == 0
    assert _count(env, "SELECT count(*) FROM tally_batch") == 0

    dry = env.ok("import", CAMPAIGN, str(path), "--dry-run", "--skip-invalid")
    assert "9,999 valid rows, 1 bad" in dry
    assert _count(env, "SELECT count(*) FROM tally") == 0

    stored = env.ok("import", CAMPAIGN, str(path), "--skip-invalid", "--wait")
    assert "9,999 new, 0 already counted" in stored
    rejects = tmp_path / "province.rejects.csv"
    with rejects.open(encoding="utf-8-sig", newline="") as file:
        rejected = list(csv.reader(file))
    assert rejected[0] == [*HEADER, "error"]
    assert rejected[1:] == [[*rows[6000], "数量: not a whole number: '三百'"]]
    assert _count(env, "SELECT count(*) FROM tally") == 9999
    assert _totals(env) == _expected(rows[:6000] + rows[6001:])
    with env.session() as session:
        _rollups_match_rows(session)
        chunks = session.execute(select(func.count()).select_from(TallyBatchChunk)).scalar_one()
        assert chunks == 5  # 9,999 rows in chunks of 2,000


def test_gb18030_and_bom_files_with_chinese_headers_import(worker_env: Env, tmp_path: Path) -> None:
    env = worker_env
    _create(env)
    gb_rows = [["2019年4月15日 10时", "宣传资料", "300", "国家安全手册", "新世纪广场", "张三"]]
    bom_rows = [["2019/4/16", "参与人次", "1,200", "", "市民中心", "李四"]]
    gb = _write(tmp_path / "县里.csv", gb_rows, encoding="gb18030")
    bom = _write(tmp_path / "bom.csv", bom_rows, encoding="utf-8-sig")
    assert gb.read_bytes().decode("gb18030").startswith("时间")

    assert "1 new" in env.ok("import", CAMPAIGN, str(gb), "--wait")
    assert "1 new" in env.ok("import", CAMPAIGN, str(bom), "--wait")

    assert _totals(env) == {"materials": 300, "attendance": 1200}
    with env.session() as session:
        tallies = session.execute(select(Tally).order_by(text("metric"))).scalars().all()
    assert [(t.metric, t.item, t.venue, t.recorded_by) for t in tallies] == [
        ("attendance", None, "市民中心", "李四"),
        ("materials", "国家安全手册", "新世纪广场", "张三"),
    ]
    assert str(tallies[1].day) == "2019-04-15"
    assert tallies[1].source == "import:县里.csv"


def test_rollups_equal_a_fresh_sum_after_imports_logs_and_corrections(
    worker_env: Env, tmp_path: Path
) -> None:
    env = worker_env
    _create(env)
    first = _write(tmp_path / "a.csv", _rows(2500))
    second = _write(tmp_path / "b.csv", _rows(1500, start=2500))
    env.ok("import", CAMPAIGN, str(first))  # no --wait: the next commands overlap it
    env.ok("log", CAMPAIGN, "boards", "4", "--at", "2019-04-16 09:00", "--key", "board-1")
    said = env.ok("log", CAMPAIGN, "boards", "4", "--at", "2019-04-16 09:00", "--key", "board-1")
    assert "already counted" in said
    env.ok("import", CAMPAIGN, str(second), "--wait")
    env.ok("import", CAMPAIGN, str(first), "--wait")
    env.ok("correct", CAMPAIGN, "materials", "--reason", "counted twice", "--", "-20")
    env.ok("correct", CAMPAIGN, "boards", "1", "--reason", "one more board")
    env.ok("log", CAMPAIGN, "materials", "7", "--at", "2019-04-22", "--venue", "市民中心")

    expected = _expected(_rows(4000))
    expected["materials"] += 7 - 20
    expected["boards"] += 4 + 1
    assert _totals(env) == expected
    with env.session() as session:
        _rollups_match_rows(session)
        assert session.execute(select(func.count()).select_from(Tally)).scalar_one() == 4004


def test_refusals_out_of_window_cancelled_and_reported(worker_env: Env, tmp_path: Path) -> None:
    env = worker_env
    _create(env)
    outside = _write(tmp_path / "late.csv", [["2019-04-23 08:00", "materials", "5", "", "", ""]])
    result = env.run("import", CAMPAIGN, str(outside))
    assert result.returncode == 1
    assert "row 2, column 时间: outside the campaign (2019-04-15 – 2019-04-22)" in result.stderr

    good = _write(tmp_path / "good.csv", _rows(10))
    with env.session() as session:
        transition(
            CAMPAIGN, CampaignStatus.scheduled, CampaignStatus.closed, session=session, actor="t"
        )
        transition(
            CAMPAIGN, CampaignStatus.closed, CampaignStatus.reported, session=session, actor="t"
        )
    reported = env.run("import", CAMPAIGN, str(good), "--wait")
    assert reported.returncode == 1
    assert "is reported: reopen it first" in reported.stderr
    env.ok("reopen", CAMPAIGN, "--reason", "late sheets from 2 counties")
    assert "10 new" in env.ok("import", CAMPAIGN, str(good), "--wait")
    events = _count(
        env,
        "SELECT count(*) FROM domain_event WHERE kind = 'campaign.closed' AND data LIKE '%late%'",
    )
    assert events == 1

    env.ok("create", "world-ip-day", "--year", "2019")
    env.ok("cancel", "2019-world-ip-day", "--reason", "typhoon")
    cancelled = env.run("import", "2019-world-ip-day", str(good))
    assert cancelled.returncode == 1
    assert re.search(r"is cancelled: no tallies accepted", cancelled.stderr)
    assert _count(env, "SELECT count(*) FROM tally WHERE campaign_id = '2019-world-ip-day'") == 0


def test_a_redelivered_chunk_is_a_no_op_and_a_late_one_is_refused(env: Env) -> None:
    _create(env)
    columns: dict[str, list[str | None]] = {
        "metric": ["materials", "boards"],
        "quantity": ["300", "2"],
        "item": [None, None],
        "venue": ["新世纪广场", None],
        "occurred_at": ["2019-04-15 02:00:00.000000", "2019-04-16 02:00:00.000000"],
        "day": ["2019-04-15", "2019-04-16"],
        "recorded_by": ["t", "t"],
        "key": ["k1", "k2"],
        "note": [None, None],
        "is_correction": ["0", "0"],
        "reason": [None, None],
        "unit": [None, None],
    }
    chunk = encode_chunk(columns, source="test")
    # A chunk published before tallies had units lacks the column: it stores as no unit.
    del chunk["columns"]["unit"]
    with env.session() as session:
        session.add(
            TallyBatch(
                id="b1",
                campaign_id=CAMPAIGN,
                source="test",
                tallies=2,
                chunks=2,
                actor="t",
                created_at=utcnow(),
            )
        )
    for _ in range(2):
        with env.session() as session:
            outcome = store_chunk(CAMPAIGN, chunk, session=session, batch=("b1", 0))
    assert (outcome.stored, outcome.repeated) == (2, True)
    with env.session() as session:
        again = store_chunk(CAMPAIGN, chunk, session=session, batch=("b1", 1))
        assert (again.stored, again.repeated) == (0, False)  # same keys in another chunk
        transition(
            CAMPAIGN, CampaignStatus.scheduled, CampaignStatus.cancelled, session=session, actor="t"
        )
    with env.session() as session:
        late = store_chunk(CAMPAIGN, chunk, session=session, batch=("b1", 2))
        _rollups_match_rows(session)
    assert late.stored == 0 and late.refused is not None and "cancelled" in late.refused
    assert _count(env, "SELECT count(*) FROM tally") == 2
    assert _count(env, "SELECT sum(total) FROM tally_day_rollup") == 302


def test_sqlite_rollups_read_only_the_new_rows(tmp_path: Path) -> None:
    """The rollup statements must find the new rows by rowid range: a plan that walks an
    index over the whole table costs more with every chunk (a real SQLite file, 20,000 rows
    of two campaigns, no ANALYZE statistics: the workers never gather any)."""
    from campaigns.db import make_engine, upgrade_database
    from campaigns.tallies.store import SQLITE_DAY_ROLLUP, SQLITE_VENUE_ROLLUP

    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade_database(engine)
    with engine.begin() as connection:
        for campaign in ("a", "b"):
            insert_campaign(connection, campaign)
        connection.execute(
            text(
                "INSERT INTO tally (campaign_id, metric, quantity, venue, occurred_at, day, key,"
                " is_correction, source, created_at) VALUES (:c, 'boards', 1, :v,"
                " '2019-04-15 02:00:00', '2019-04-15', :k, 0, 't', '2019-04-15 02:00:00')"
            ),
            [{"c": "ab"[n % 2], "v": f"v{n % 300}", "k": f"{n:032x}"} for n in range(20_000)],
        )
        for statement in (SQLITE_DAY_ROLLUP, SQLITE_VENUE_ROLLUP):
            select_part = statement[statement.index("SELECT") : statement.index(" ON CONFLICT")]
            parameters = ("a", 19_000)[-select_part.count("?") :]
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + select_part, parameters).all()
            details = " | ".join(str(row[-1]) for row in plan)
            assert "INTEGER PRIMARY KEY (rowid>?)" in details, details
            assert "SCAN" not in details, details
    engine.dispose()
