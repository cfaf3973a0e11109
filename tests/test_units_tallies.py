"""Tallies by reporting unit through the real CLI, Redis and a real worker, on SQLite and
PostgreSQL: an import's 单位 column, `import --unit`, `log --unit --final`, the by-unit rollup
against a fresh GROUP BY, units reported once their import is stored, and bad units refused
with nothing written. Files without units keep the keys they always had."""

from __future__ import annotations

import csv
import threading
import time
from datetime import date, timedelta
from hashlib import blake2b
from pathlib import Path

from sqlalchemy import func, select, text
from sqlmodel import Session

from campaigns.models import (
    CampaignStatus,
    DomainEvent,
    Participant,
    Summary,
    Tally,
    TallyBatch,
    utcnow,
)
from campaigns.planning.lifecycle import transition
from campaigns.tallies.chunks import file_digest
from campaigns.tallies.encoding import encode_chunk
from campaigns.tallies.store import store_chunk
from tests.conftest import Env
from tests.test_importfile import SHANGHAI, WINDOW, read

CAMPAIGN = "2019-national-security-day"  # 2019-04-15 to 2019-04-22, Asia/Shanghai
UNITS = """编码,名称,上级
410600,鹤壁市,
410621,浚县,410600
410622,淇县,410600
410602,鹤山区,410600
"""
HEADER = ["时间", "指标", "数量", "地点", "单位"]


def _units(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(UNITS, encoding="utf-8")
    env.ok("units", "import", str(path))


def _create(env: Env, *options: str) -> None:
    env.ok(
        "create",
        "national-security-day",
        "--year",
        "2019",
        "--start",
        "2019-04-15",
        "--end",
        "2019-04-22",
        *options,
    )


def _write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([header, *rows])
    return path


def _rows(count: int, units: list[str]) -> list[list[str]]:
    return [
        [f"2019-04-{15 + n % 8} 09:00", ["materials", "boards"][n % 2], str(1 + n % 9), "", unit]
        for n in range(count)
        for unit in [units[n % len(units)]]
    ]


def _reported(env: Env, campaign_id: str = CAMPAIGN) -> dict[str, str | None]:
    with env.session() as s:
        rows = s.execute(select(Participant).where(Participant.campaign_id == campaign_id))
        return {p.unit_code: p.how if p.reported_at else None for p in rows.scalars()}


def _unit_rollup_matches_rows(session: Session) -> list[tuple[object, ...]]:
    fresh = session.execute(
        text(
            "SELECT campaign_id, metric, coalesce(unit, ''), sum(quantity), count(*)"
            " FROM tally GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    ).all()
    rolled = session.execute(
        text(
            "SELECT campaign_id, metric, unit, total, tallies FROM tally_unit_rollup"
            " ORDER BY 1, 2, 3"
        )
    ).all()
    assert [tuple(r) for r in rolled] == [tuple(r) for r in fresh]
    assert fresh, "nothing was stored"
    return [tuple(r) for r in fresh]


def _nothing_written(env: Env) -> None:
    with env.session() as s:
        assert s.execute(select(func.count()).select_from(TallyBatch)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(Tally)).scalar_one() == 0


def test_an_import_for_two_units_carries_their_codes_and_reports_them(
    worker_env: Env, tmp_path: Path
) -> None:
    env = worker_env
    _units(env, tmp_path)
    _create(env, "--units", "浚县,淇县,鹤山区")
    # Names and codes alike; 300 rows in chunks of 100, queued while logs overlap it.
    env.vars["CAMPAIGNS_IMPORT_CHUNK_SIZE"] = "100"
    sheet = _write(tmp_path / "a.csv", _rows(300, ["浚县", "410622", " 淇县 "]))
    env.ok("import", CAMPAIGN, str(sheet))
    env.ok("log", CAMPAIGN, "boards", "4", "--at", "2019-04-16 09:00", "--unit", "鹤山区")
    env.ok("log", CAMPAIGN, "boards", "2", "--at", "2019-04-16 10:00")  # the bureau's own
    env.ok("correct", CAMPAIGN, "materials", "--unit", "410621", "--reason", "twice", "--", "-3")
    said = env.ok("import", CAMPAIGN, str(sheet), "--wait")
    assert "0 new, 300 already counted" in said

    with env.session() as s:
        grouped = s.execute(select(Tally.unit, func.count()).group_by(Tally.unit)).all()
        units = {unit: count for unit, count in grouped}
        fresh = _unit_rollup_matches_rows(s)
    assert units == {"410621": 101, "410622": 200, "410602": 1, None: 1}
    expected: dict[tuple[str, str], list[int]] = {}
    codes = {"浚县": "410621", "410622": "410622", " 淇县 ": "410622"}
    for _, metric, quantity, _, unit in _rows(300, ["浚县", "410622", " 淇县 "]):
        figures = expected.setdefault((metric, codes[unit]), [0, 0])
        figures[0] += int(quantity)
        figures[1] += 1
    expected[("materials", "410621")][0] -= 3
    expected[("materials", "410621")][1] += 1
    expected[("boards", "410602")] = [4, 1]
    expected[("boards", "")] = [2, 1]
    assert {(r[1], r[2]): [r[3], r[4]] for r in fresh} == expected
    # The import reported both of its units once stored; a plain log reports nobody.
    assert _reported(env) == {"410621": "imported", "410622": "imported", "410602": None}
    with env.session() as s:
        batches = s.execute(
            select(TallyBatch.reports_for).where(TallyBatch.source == "import:a.csv")
        )
        # One batch or two: the second import finds the first complete, or stores alongside it.
        assert set(filter(None, batches.scalars())) == {'["410621", "410622"]'}

    said = env.ok(
        "log", CAMPAIGN, "boards", "1", "--at", "2019-04-17 09:00", "--unit", "鹤山区", "--final"
    )
    assert "; report of 鹤山区 complete" in said
    assert _reported(env)["410602"] == "imported"


def test_an_unknown_unit_is_a_row_error_naming_the_cell_and_nothing_is_written(
    env: Env, tmp_path: Path
) -> None:
    _units(env, tmp_path)
    _create(env)
    sheet = _write(
        tmp_path / "t.csv", [*_rows(3, ["浚县"]), ["2019-04-16", "boards", "1", "", "某县"]]
    )
    result = env.run("import", CAMPAIGN, str(sheet))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "campaigns: t.csv: row 5, column 单位: unknown reporting unit '某县'"
        " (see `campaigns units list`)"
    )
    assert "1 bad rows (1 errors); nothing stored" in lines[-1]
    _nothing_written(env)

    for_unit = env.run("import", CAMPAIGN, str(sheet), "--unit", "某县")
    assert for_unit.returncode == 1
    assert "--unit: unknown reporting unit '某县'" in for_unit.stderr
    logged = env.run("log", CAMPAIGN, "boards", "1", "--at", "2019-04-16", "--unit", "某县")
    assert logged.returncode == 1 and len(logged.stderr.splitlines()) == 1
    assert (
        "--final goes with --unit"
        in env.run("log", CAMPAIGN, "boards", "1", "--at", "2019-04-16", "--final").stderr
    )
    _nothing_written(env)


def test_a_unit_not_taking_part_is_refused_naming_those_that_do(env: Env, tmp_path: Path) -> None:
    _units(env, tmp_path)
    _create(env, "--units", "浚县,淇县")
    sheet = _write(tmp_path / "t.csv", _rows(4, ["浚县", "鹤山区"]))
    refused = "campaigns: 鹤山区 does not take part in 2019-national-security-day; those that do:"
    for args in (
        ("import", CAMPAIGN, str(sheet)),
        ("import", CAMPAIGN, str(sheet), "--dry-run"),
        ("log", CAMPAIGN, "boards", "1", "--at", "2019-04-16", "--unit", "410602"),
    ):
        result = env.run(*args)
        assert result.returncode == 1, args
        assert result.stderr.splitlines() == [f"{refused} 浚县、淇县"], args
    _nothing_written(env)


def test_import_for_a_unit_gives_it_the_rows_without_one(worker_env: Env, tmp_path: Path) -> None:
    env = worker_env
    _units(env, tmp_path)
    _create(env, "--units", "浚县,淇县")
    plain = _write(tmp_path / "p.csv", [r[:4] for r in _rows(5, [""])], header=HEADER[:4])
    assert "5 new" in env.ok("import", CAMPAIGN, str(plain), "--unit", "淇县", "--wait")
    # The same file for another unit is that unit's tallies, not a repeat of the first.
    assert "5 new" in env.ok("import", CAMPAIGN, str(plain), "--unit", "410621", "--wait")
    assert "already counted" in env.ok("import", CAMPAIGN, str(plain), "--unit", "淇县", "--wait")
    with env.session() as s:
        grouped = s.execute(select(Tally.unit, func.count()).group_by(Tally.unit)).all()
        units = {unit: count for unit, count in grouped}
        _unit_rollup_matches_rows(s)
    assert units == {"410622": 5, "410621": 5}
    assert _reported(env) == {"410621": "imported", "410622": "imported"}

    # A row naming another unit than --unit is an error of that row.
    mixed = _write(tmp_path / "m.csv", [["2019-04-16", "boards", "1", "", ""], *_rows(1, ["浚县"])])
    result = env.run("import", CAMPAIGN, str(mixed), "--unit", "淇县")
    assert result.returncode == 1
    assert (
        "campaigns: m.csv: row 3, column 单位: 浚县 (410621), but the file is imported for"
        " --unit 淇县 (410622)"
    ) in result.stderr.splitlines()


def test_the_last_report_of_a_closed_campaign_compiles_its_summary(
    worker_env: Env, tmp_path: Path
) -> None:
    env = worker_env
    _units(env, tmp_path)
    today = date.today()
    env.ok(
        "create",
        "world-ip-day",
        "--year",
        str(today.year),
        "--start",
        str(today - timedelta(days=3)),
        "--end",
        str(today - timedelta(days=1)),
        "--id",
        "ip-day",
        "--units",
        "浚县,淇县",
        "--report-by",
        str(today + timedelta(days=5)),
    )
    with env.session() as s:
        transition("ip-day", CampaignStatus.scheduled, CampaignStatus.closed, session=s, actor="t")
    day = str(today - timedelta(days=2))
    # Closed, not reported: tallies dated inside the campaign are still taken.
    first = _write(tmp_path / "x.csv", [[day, "materials", "10", "", "浚县"]])
    assert "1 new" in env.ok("import", "ip-day", str(first), "--wait")
    time.sleep(1)
    with env.session() as s:
        assert s.execute(select(func.count()).select_from(Summary)).scalar_one() == 0
    second = _write(tmp_path / "q.csv", [[day, "materials", "7", "", "淇县"]])
    assert "1 new" in env.ok("import", "ip-day", str(second), "--wait")
    deadline = time.monotonic() + 60
    while True:
        with env.session() as s:
            summaries = s.execute(select(Summary).where(Summary.campaign_id == "ip-day")).all()
        if summaries or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(summaries) == 1
    assert _reported(env, "ip-day") == {"410621": "imported", "410622": "imported"}


def test_racing_workers_storing_the_last_two_chunks_report_once(env: Env, tmp_path: Path) -> None:
    """Two chunks of one report stored at once: the second to commit sees both markers."""
    _units(env, tmp_path)
    _create(env, "--units", "浚县")
    with env.session() as s:
        s.add(
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

    # Of different metrics, so that no rollup row makes the second wait for the first.
    def chunk(key: str, metric: str) -> dict[str, object]:
        columns: dict[str, list[str | None]] = {
            "metric": [metric],
            "quantity": ["3"],
            "item": [None],
            "venue": [None],
            "occurred_at": ["2019-04-15 02:00:00.000000"],
            "day": ["2019-04-15"],
            "recorded_by": ["t"],
            "key": [key],
            "note": [None],
            "is_correction": ["0"],
            "reason": [None],
            "unit": ["410621"],
        }
        return encode_chunk(columns, source="test", reports_for=["410621"])

    outcomes: dict[int, tuple[str, ...]] = {}
    with env.session() as first:
        stored = store_chunk(CAMPAIGN, chunk("k0", "materials"), session=first, batch=("b1", 0))
        outcomes[0] = stored.reported

        def second() -> None:
            with env.session() as s:
                outcome = store_chunk(CAMPAIGN, chunk("k1", "boards"), session=s, batch=("b1", 1))
                outcomes[1] = outcome.reported

        racer = threading.Thread(target=second)
        racer.start()
        racer.join(1.0)
        assert racer.is_alive(), "the second chunk did not wait for the first"
    racer.join(30)
    assert outcomes == {0: (), 1: ("410621",)}
    assert _reported(env) == {"410621": "imported"}
    with env.session() as s:
        events = s.execute(
            select(func.count()).where(DomainEvent.kind == "participants.imported")
        ).scalar_one()
        _unit_rollup_matches_rows(s)
    assert events == 1


def test_files_without_units_keep_their_keys_and_digests(tmp_path: Path) -> None:
    """A derived key is the hash of the campaign, the row's fields and its number; a unit
    joins it only when a row has one."""
    rows = [["materials", "300", "", "广场", "2019-04-15 10:00", "张三", ""]]
    header = ["metric", "quantity", "item", "venue", "occurred_at", "recorded_by", "note"]
    old = _write(tmp_path / "old.csv", rows, header=header)
    blank = _write(tmp_path / "blank.csv", [[*rows[0], ""]], header=[*header, "单位"])
    named = _write(tmp_path / "named.csv", [[*rows[0], "浚县"]], header=[*header, "单位"])
    accepted = read(old, window=WINDOW).accepted
    moment = accepted.occurred_at[0]
    assert (
        moment is not None
        and moment.astimezone(SHANGHAI).isoformat() == "2019-04-15T10:00:00+08:00"
    )
    fields = [CAMPAIGN, "materials", "300", "", "广场", moment.isoformat(), "张三", "", "2"]
    expected = blake2b("\x1f".join(fields).encode(), digest_size=16).hexdigest()
    assert accepted.keys() == [expected]
    assert read(blank, window=WINDOW).accepted.keys() == [expected]
    assert read(named, window=WINDOW).accepted.keys() != [expected]
    assert read(named, window=WINDOW).rows[0].unit == "浚县"
    assert file_digest(old) == blake2b(old.read_bytes(), digest_size=32).hexdigest()
    assert file_digest(old, unit="410621") != file_digest(old)
