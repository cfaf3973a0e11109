"""The reporting cycle: units and participants from the CLI, the report-by deadline, and a
final summary that waits for the units' reports (or the deadline), never for less."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from campaigns.db import make_engine, session_scope
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    Participant,
    Reminder,
    ReportHow,
    Summary,
    TallyBatch,
    utcnow,
)
from campaigns.planning.campaigns import CampaignSpec, create_campaign
from campaigns.planning.lifecycle import close_campaign, report_now
from campaigns.planning.participants import deadline_text, mark_reported, summary_due
from campaigns.planning.units import UnitRow, import_units
from campaigns.runtime.dispatcher import DispatchResult, run_dispatch
from campaigns.tallies.sweeper import keep_pending
from tests.conftest import Env, make_env
from tests.servers import fresh_database
from tests.test_lifecycle import SHANGHAI, Sessions, _race, local, sessions_for

UNITS_CSV = """编码,名称,上级,联系方式
410600,鹤壁市,,
410621,浚县,410600,xunxian@example.cn
410622,淇县,410600,qixian@example.cn
410602,鹤山区,鹤壁市,
410603,山城区,鹤壁市,
410611,淇滨区,鹤壁市,
41061101,九州路街道,淇滨区,
"""
COUNTIES = ["410602", "410603", "410611", "410621", "410622"]


def seed_units(sessions: Sessions) -> None:
    rows = [
        UnitRow(code, name, parent or None, contact or None, f"units.csv:{n}")
        for n, (code, name, parent, contact) in enumerate(
            (line.split(",") for line in UNITS_CSV.splitlines()[1:]), start=2
        )
    ]
    with sessions() as s:
        import_units(rows, session=s, actor="tester")


def make_cycle(sessions: Sessions, campaign_id: str, **spec: object) -> Campaign:
    """A Constitution Day campaign, 1–7 December 2025, with the city's five districts."""
    with sessions() as s:
        return create_campaign(
            CampaignSpec(
                kind="constitution-day",
                year=2025,
                first_day=date(2025, 12, 1),
                last_day=date(2025, 12, 7),
                campaign_id=campaign_id,
                units_under=spec.pop("units_under", "鹤壁市"),  # type: ignore[arg-type]
                **spec,  # type: ignore[arg-type]
            ),
            session=s,
            actor="tester",
        )


def status(sessions: Sessions, campaign_id: str) -> str:
    with sessions() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.status


def summaries(sessions: Sessions, campaign_id: str) -> list[Summary]:
    with sessions() as s:
        query = select(Summary).where(Summary.campaign_id == campaign_id)
        return list(s.execute(query).scalars())


def test_default_deadline_is_the_midnight_after_the_last_day_plus_three(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        seed_units(sessions)
        campaign = make_cycle(sessions, "2025-constitution-day")
        with sessions() as s:
            codes = sorted(s.execute(select(Participant.unit_code)).scalars())
    assert codes == COUNTIES
    assert campaign.report_by == local(2025, 12, 11).astimezone(UTC)
    assert deadline_text(campaign.report_by, SHANGHAI) == "2025-12-10 24:00"


def test_the_summary_waits_for_every_participant_then_goes_at_once(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        seed_units(sessions)
        make_cycle(sessions, "c")
        after_end = local(2025, 12, 8, 9).astimezone(UTC)
        assert run_dispatch(sessions, now=after_end).closed == ["c"]
        assert status(sessions, "c") == CampaignStatus.closed
        with sessions() as s:
            mark_reported("c", COUNTIES[:4], how=ReportHow.submitted, session=s, actor="t")
        # Four of five in, the deadline two days away: the summary waits.
        assert run_dispatch(sessions, now=after_end).reported == []
        with sessions() as s:
            mark_reported(
                "c", COUNTIES[4:], how=ReportHow.waived, session=s, actor="t", reason="无活动"
            )
        assert run_dispatch(sessions, now=after_end).reported == ["c"]
        [summary] = summaries(sessions, "c")
    figures = json.loads(summary.figures)
    assert figures["reporting"]["complete"] is True
    assert figures["reporting"]["missing"] == []


def test_at_the_deadline_the_summary_goes_naming_who_is_missing(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        seed_units(sessions)
        make_cycle(sessions, "c")
        with sessions() as s:
            mark_reported("c", COUNTIES[:3], how=ReportHow.submitted, session=s, actor="t")
        on_last_day = local(2025, 12, 10, 23, 59).astimezone(UTC)
        assert run_dispatch(sessions, now=on_last_day).reported == []
        at_deadline = local(2025, 12, 11).astimezone(UTC)
        assert run_dispatch(sessions, now=at_deadline).reported == ["c"]
        [summary] = summaries(sessions, "c")
    figures = json.loads(summary.figures)
    missing = [unit["name"] for unit in figures["reporting"]["missing"]]
    assert missing == ["浚县", "淇县"]
    assert figures["reporting"]["complete"] is False


def test_no_summary_while_accepted_chunks_wait_to_be_stored(env: Env) -> None:
    """Without participants the summary is due at the close, but not before the queued
    chunks of an import are stored."""
    with sessions_for(env) as (_, sessions):
        seed_units(sessions)
        make_cycle(sessions, "c", units_under=None)
        with sessions() as s:
            campaign = s.get(Campaign, "c")
            assert campaign is not None and campaign.report_by is None
            s.add(
                TallyBatch(
                    id="b1",
                    campaign_id="c",
                    source="import:t.csv",
                    tallies=1,
                    chunks=1,
                    actor="t",
                    created_at=utcnow(),
                )
            )
            s.flush()
            keep_pending("c", "b1", [(0, {"columns": {}})], session=s)
        after_end = local(2025, 12, 8).astimezone(UTC)
        assert run_dispatch(sessions, now=after_end).reported == []
        with sessions() as s:
            from campaigns.tallies.sweeper import forget_pending

            forget_pending("b1", 0, session=s)
        assert run_dispatch(sessions, now=after_end).reported == ["c"]


def test_report_now_stops_waiting_and_a_second_close_keeps_the_deadline(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        seed_units(sessions)
        make_cycle(sessions, "c")
        now = local(2025, 12, 8, 10).astimezone(UTC)
        with sessions() as s:
            close_campaign("c", session=s, actor="t", now=now)
            close_campaign("c", session=s, actor="t", now=now)
            campaign = s.get(Campaign, "c")
            assert campaign is not None
            assert campaign.report_by == local(2025, 12, 11).astimezone(UTC)
            assert not summary_due(campaign, session=s, now=now)
            report_now("c", session=s, actor="t", now=now)
        assert run_dispatch(sessions, now=now + timedelta(seconds=1)).reported == ["c"]
        [summary] = summaries(sessions, "c")
    assert len(json.loads(summary.figures)["reporting"]["missing"]) == 5


def test_racing_dispatchers_give_one_reminder_per_unit_and_one_summary(env: Env) -> None:
    engines = [make_engine(env.vars["CAMPAIGNS_DATABASE_URL"]) for _ in range(4)]
    try:
        with sessions_for(env) as (_, sessions):
            seed_units(sessions)
            make_cycle(sessions, "c")
            with sessions() as s:
                mark_reported("c", COUNTIES[:3], how=ReportHow.submitted, session=s, actor="t")
            pool = iter(engines)
            lock = threading.Lock()

            def dispatch(now: datetime) -> Callable[[], object]:
                def job() -> DispatchResult:
                    with lock:
                        engine = next(pool)
                    return run_dispatch(
                        lambda: session_scope(engine), now=now, remind_before=timedelta(hours=24)
                    )

                return job

            # The evening before the deadline: 浚县 and 淇县 (both with a contact) are due.
            evening = local(2025, 12, 10, 20).astimezone(UTC)
            first = _race(4, dispatch(evening))
            pool = iter(engines)
            _race(4, dispatch(evening + timedelta(minutes=1)))
            with sessions() as s:
                reminded = sorted(s.execute(select(Reminder.unit_code)).scalars())
                mails = s.execute(
                    select(func.count()).where(col(Delivery.reminder_id).is_not(None))
                ).scalar_one()
            assert reminded == ["410621", "410622"]
            assert mails == 2
            assert sum(r.reminded for r in first) == 2  # type: ignore[attr-defined]
            with sessions() as s:
                mark_reported("c", COUNTIES[3:], how=ReportHow.submitted, session=s, actor="t")
            pool = iter(engines)
            results = _race(4, dispatch(evening + timedelta(minutes=2)))
            assert sorted(c for r in results for c in r.reported) == ["c"]  # type: ignore[attr-defined]
            assert len(summaries(sessions, "c")) == 1
    finally:
        for engine in engines:
            engine.dispose()


# --- the commands ---------------------------------------------------------------------


def _snapshot(env: Env) -> dict[str, int]:
    import campaigns.models  # noqa: F401

    with env.session() as session:
        return {
            name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in SQLModel.metadata.tables.items()
        }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def city(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The city's units and a campaign its five districts take part in (shared: every
    bad-input case checks it leaves the database as it was)."""
    data_dir = tmp_path_factory.mktemp("cycle")
    (data_dir / "units.csv").write_text(UNITS_CSV, encoding="utf-8")

    def ready(env: Env) -> Env:
        env.ok("units", "import", "units.csv")
        env.ok("create", "constitution-day", "--year", "2025", "--units-under", "鹤壁市")
        return env

    if request.param == "sqlite":
        yield ready(make_env(f"sqlite:///{data_dir / 'campaigns.db'}", data_dir))
        return
    with fresh_database(request.getfixturevalue("postgres_server_url")) as url:
        yield ready(make_env(url, data_dir))


def test_units_import_again_changes_nothing_and_list_is_a_tree(city: Env) -> None:
    again = city.ok("units", "import", "units.csv")
    assert "新增0个，更新0个，未变7个" in again
    tree = city.ok("units", "list").splitlines()
    rows = [line for line in tree if "4106" in line]
    names = [row.split("│")[1].rstrip() for row in rows]
    assert names[0] == " 鹤壁市" and names[1] == "   鹤山区"
    assert "     九州路街道" in names


def test_submit_waive_and_progress(city: Env) -> None:
    out = city.ok("submit", "2025-constitution-day", "--unit", "浚县")
    assert "浚县已确认报送" in out and "5个单位中已报送1个（20%）" in out
    again = city.ok("submit", "2025-constitution-day", "--unit", "410621")
    assert "此前已报送" in again
    city.ok("submit", "2025-constitution-day", "--unit", "淇县", "--waive", "--reason", "无活动")
    report = json.loads(city.ok("progress", "2025-constitution-day", "--format", "json"))
    by_name = {unit["name"]: unit for unit in report["units"]}
    # Its deadline (10 December 2025) has passed: reported, but late.
    assert by_name["浚县"]["status"] == "late" and by_name["浚县"]["how"] == "submitted"
    assert by_name["浚县"]["late"] is True
    assert by_name["淇县"]["status"] == "waived" and by_name["淇县"]["reason"] == "无活动"
    assert by_name["鹤山区"]["status"] == "missing"
    assert (report["participants"], report["reported"], report["waived"]) == (5, 1, 1)
    assert report["line"]["en"] == "1 of 5 units reported (20%), 1 waived"
    assert report["deadline"] == "2025-12-11T00:00:00+08:00"
    shown = city.ok("show", "2025-constitution-day")
    assert "5个单位中已报送1个（20%），免报1个；填报截止 2025-12-10 24:00" in shown
    assert "未报送：鹤山区、山城区、淇滨区" in shown


def test_participants_add_and_remove(city: Env) -> None:
    city.ok("create", "world-ip-day", "--year", "2025", "--units", "浚县,淇县")
    out = city.ok("participants", "2025-world-ip-day", "add", "山城区")
    assert "加入：山城区" in out and "3个单位中已报送0个" in out
    out = city.ok("participants", "2025-world-ip-day", "remove", "淇县")
    assert "移出：淇县" in out and "2个单位中已报送0个" in out
    listed = city.ok("participants", "2025-world-ip-day", "list")
    assert "浚县" in listed and "山城区" in listed and "淇县" not in listed


def _write(env: Env, name: str, text: str) -> str:
    (env.data_dir / name).write_text(text, encoding="utf-8")
    return name


@pytest.mark.parametrize(
    ("args", "files", "expected"),
    [
        (
            ["create", "world-ip-day", "--year", "2024", "--units", "浚县,九州路"],
            {},
            "--units: unknown reporting unit '九州路'",
        ),
        (
            ["create", "world-ip-day", "--year", "2024", "--report-by", "2024-04-25"],
            {},
            "--report-by 2024-04-25 is before the campaign's last day 2024-04-26",
        ),
        (
            ["create", "world-ip-day", "--year", "2024", "--units-under", "浚县"],
            {},
            "浚县 has no sub-units",
        ),
        (
            ["units", "import", "cycle.csv"],
            {"cycle.csv": "编码,名称,上级\n1,甲,2\n2,乙,1\n"},
            "the units form a loop: 1 → 2 → 1",
        ),
        (
            ["units", "import", "twice.csv"],
            {"twice.csv": "编码,名称,上级\n1,甲,\n1,乙,\n"},
            "appears twice",
        ),
        (
            ["submit", "2025-constitution-day", "--unit", "鹤壁市"],
            {},
            "鹤壁市 does not take part in 2025-constitution-day; those that do: 鹤山区",
        ),
        (
            ["submit", "2025-constitution-day", "--unit", "鹤山区", "--waive"],
            {},
            "--waive needs --reason",
        ),
        (["submit", "2025-constitution-day", "--unit", "九州"], {}, "unknown reporting unit"),
        (["participants", "2025-constitution-day", "drop", "浚县"], {}, "not one of add"),
        (["participants", "2025-constitution-day", "add"], {}, "name at least one unit"),
        (["progress", "2025-constitution-day", "--format", "xml"], {}, "table or json"),
        (["calendar", "2026", "--units", "浚县"], {}, "go with --apply"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_nothing_written(
    city: Env, args: list[str], files: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        _write(city, name, text)
    before = _snapshot(city)
    result = city.run(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert _snapshot(city) == before


def test_calendar_applies_the_same_participants(tmp_path: Path, env: Env) -> None:
    (env.data_dir / "units.csv").write_text(UNITS_CSV, encoding="utf-8")
    env.ok("units", "import", "units.csv")
    env.ok("calendar", "2026", "--apply", "--units", "浚县、淇县")
    with env.session() as s:
        rows = s.execute(select(Participant.campaign_id, Participant.unit_code)).all()
    by_campaign: dict[str, list[str]] = {}
    for campaign_id, code in rows:
        by_campaign.setdefault(campaign_id, []).append(code)
    assert len(by_campaign) == 4
    assert all(sorted(codes) == ["410621", "410622"] for codes in by_campaign.values())


def test_dates_are_checked_against_the_last_day_not_the_clock() -> None:
    """The deadline is the local midnight after --report-by, whatever the machine's zone."""
    assert deadline_text(datetime(2025, 12, 10, 16, 0, tzinfo=UTC), SHANGHAI) == "2025-12-10 24:00"
    assert deadline_text(datetime(2025, 12, 10, 7, 30, tzinfo=UTC), SHANGHAI) == "2025-12-10 15:30"
