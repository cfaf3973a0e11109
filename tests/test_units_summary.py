"""The summary of a campaign with reporting units, on SQLite and PostgreSQL: by-unit figures
against a fresh GROUP BY over the tallies, the Chinese text naming the units, the reporting
state at the deadline, the metric order through storage, the chart, the workbook and CSV,
and the evening digest's progress line; user-typed unit names stay inert everywhere."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image
from python_calamine import CalamineWorkbook
from sqlalchemy import text
from sqlmodel import Session, select

from campaigns.db import make_engine, session_scope
from campaigns.models import Campaign, CampaignStatus, ReportHow, Summary
from campaigns.planning.campaigns import CampaignSpec, create_campaign
from campaigns.planning.lifecycle import close_campaign, transition
from campaigns.planning.participants import mark_reported
from campaigns.planning.units import UnitRow, import_units
from campaigns.summaries.chart import render_daily_chart_bytes
from campaigns.summaries.figures import compile_figures
from campaigns.summaries.render import chart_series, render
from campaigns.summaries.versions import compile_digest, compile_final_summary
from campaigns.summaries.workbook import UNIT_SHEET, summary_csvs, summary_sheets, summary_xlsx
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_tallies
from tests.conftest import Env

SHANGHAI = ZoneInfo("Asia/Shanghai")
Sessions = Callable[[], AbstractContextManager[Session]]

CITY = "410600"
# (code, name, parent): a city, five counties in code order, one county with a town.
UNITS = [
    (CITY, "鹤壁市", None),
    ("410602", "鹤山区", CITY),
    ("410603", "山城区", CITY),
    ("410611", "淇滨区", CITY),
    ("410621", "浚县", CITY),
    ("410621.01", "善堂镇", "410621"),
    ("410622", "淇县", CITY),
]
CAMPAIGN = "2025-constitution-day"
# The observance's order (宪法宣传周: attendance, materials, lectures, consultations, boards).
ORDER = ["attendance", "materials", "lectures", "consultations", "boards"]


def local(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=SHANGHAI)


@contextmanager
def sessions_for(env: Env) -> Iterator[Sessions]:
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    try:
        yield lambda: session_scope(engine)
    finally:
        engine.dispose()


def add_units(sessions: Sessions, units: list[tuple[str, str, str | None]]) -> None:
    rows = [
        UnitRow(code, name, parent, None, f"units:{n}")
        for n, (code, name, parent) in enumerate(units, start=1)
    ]
    with sessions() as s:
        import_units(rows, session=s, actor="tester")


def make_campaign(sessions: Sessions, campaign_id: str, kind: str, units: list[str]) -> None:
    with sessions() as s:
        create_campaign(
            CampaignSpec(
                kind=kind,
                year=2025,
                first_day=date(2025, 12, 1),
                last_day=date(2025, 12, 7),
                campaign_id=campaign_id,
                units=units,
                report_by_day=date(2025, 12, 10) if units else None,
            ),
            session=s,
            actor="tester",
        )


def store(
    sessions: Sessions, campaign_id: str, unit: str | None, *tallies: tuple[str, int, int]
) -> None:
    """Through the tallies store, which keeps the by-unit rollup in the same statement."""
    new = [
        NewTally(
            metric=metric,
            quantity=quantity,
            occurred_at=local(12, day),
            key=f"{unit}-{metric}-{day}-{quantity}",
            unit=unit,
            is_correction=quantity < 0,
            reason="重复统计" if quantity < 0 else None,
        )
        for metric, quantity, day in tallies
    ]
    with sessions() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        assert store_tallies(campaign, new, session=s) == len(new)


def seed_constitution_day(sessions: Sessions) -> None:
    """Six participants (five counties and a town); four counties, the town and the
    organiser record; at the deadline two have not reported and one is waived."""
    add_units(sessions, UNITS)
    make_campaign(sessions, CAMPAIGN, "constitution-day", [code for code, _, p in UNITS if p])
    store(sessions, CAMPAIGN, "410621", ("materials", 9000, 2), ("attendance", 2000, 3))
    store(sessions, CAMPAIGN, "410621", ("materials", 6000, 4))
    store(sessions, CAMPAIGN, "410621.01", ("materials", 3200, 3), ("attendance", 800, 5))
    store(sessions, CAMPAIGN, "410622", ("lectures", 12, 4), ("attendance", 5200, 4))
    store(
        sessions,
        CAMPAIGN,
        "410602",
        ("materials", 900, 1),
        ("consultations", 300, 2),
        ("materials", -100, 6),
    )
    store(sessions, CAMPAIGN, "410603", ("attendance", 1000, 7))
    store(sessions, CAMPAIGN, None, ("boards", 20, 1), ("materials", 500, 2))
    with sessions() as s:
        for code in ("410621", "410621.01"):
            how = ReportHow.submitted
            mark_reported(CAMPAIGN, [code], how=how, session=s, actor="t", now=local(12, 8))
        # After the deadline (the midnight after 12月10日): late.
        mark_reported(
            CAMPAIGN, ["410603"], how=ReportHow.imported, session=s, actor="t", now=local(12, 11, 9)
        )
        mark_reported(
            CAMPAIGN,
            ["410611"],
            how=ReportHow.waived,
            session=s,
            actor="t",
            now=local(12, 9),
            reason="本期未开展活动",
        )
        close_campaign(CAMPAIGN, session=s, actor="t", now=local(12, 8))


_TREE = """
WITH RECURSIVE tree(top, code) AS (
    SELECT code, code FROM reporting_unit
    UNION ALL
    SELECT tree.top, reporting_unit.code
    FROM tree JOIN reporting_unit ON reporting_unit.parent_code = tree.code
)
SELECT tree.top, tally.metric, sum(tally.quantity), count(*)
FROM tally JOIN tree ON tally.unit = tree.code
WHERE tally.campaign_id = :campaign
GROUP BY tree.top, tally.metric
UNION ALL
SELECT '', metric, sum(quantity), count(*) FROM tally
WHERE campaign_id = :campaign AND unit IS NULL
GROUP BY metric
"""


def group_by(
    session: Session, campaign_id: str
) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Each unit's totals (itself and every unit under it) and tally counts, from the tallies."""
    totals: dict[str, dict[str, int]] = {}
    counts: dict[str, int] = {}
    for top, metric, total, count in session.execute(text(_TREE), {"campaign": campaign_id}):
        totals.setdefault(top, {})[metric] = int(total)
        counts[top] = counts.get(top, 0) + int(count)
    return totals, counts


def test_by_unit_figures_text_and_files_of_a_campaign_reported_at_its_deadline(env: Env) -> None:
    with sessions_for(env) as sessions:
        seed_constitution_day(sessions)
        with sessions() as s:
            campaign = s.get(Campaign, CAMPAIGN)
            assert campaign is not None
            fresh = compile_figures(campaign, session=s, now=local(12, 11, 9))
            totals, counts = group_by(s, CAMPAIGN)
        with sessions() as s:
            stored = compile_final_summary(CAMPAIGN, session=s, actor="t", now=local(12, 11, 9))
            assert stored is not None
        with sessions() as s:
            [row] = s.exec(select(Summary).where(Summary.campaign_id == CAMPAIGN)).all()
            reported = s.get(Campaign, CAMPAIGN)
            assert reported is not None and reported.status == CampaignStatus.reported
    figures = json.loads(row.figures)

    # Metric order survives storage: the observance's, not the alphabet's.
    assert list(fresh["metrics"]) == ORDER
    assert list(figures["metrics"]) == ORDER != sorted(ORDER)
    assert figures["by_unit"]["headline"] == ["attendance", "materials", "lectures"]

    # Every unit's figures equal a GROUP BY over the tallies under it; a parent is its own
    # plus its children's; shares are of the campaign's totals.
    units = figures["by_unit"]["units"]
    assert [(u["code"], u["depth"]) for u in units] == [
        ("410602", 0),
        ("410603", 0),
        ("410611", 0),
        ("410621", 0),
        ("410621.01", 1),
        ("410622", 0),
        ("", 0),
    ]
    for unit in units:
        expected = {m: totals.get(unit["code"], {}).get(m, 0) for m in ORDER}
        assert unit["totals"] == expected, unit["code"]
        assert unit["tallies"] == counts.get(unit["code"], 0), unit["code"]
        children = [u for u in units if u["parent"] == unit["code"] and unit["code"]]
        for m in ORDER:
            assert unit["totals"][m] == unit["own"][m] + sum(c["totals"][m] for c in children)
            whole = figures["metrics"][m]["total"]
            assert unit["share"][m] == round(100 * unit["totals"][m] / whole, 1)
    xun = units[3]
    assert xun["name"] == "浚县" and xun["own"]["materials"] == 15000
    assert xun["totals"]["materials"] == 18200 and xun["share"]["materials"] == 93.3
    assert units[4]["parent"] == "410621"
    top = [u for u in units if u["parent"] is None]
    assert sum(u["totals"]["materials"] for u in top) == figures["metrics"]["materials"]["total"]
    assert figures["metrics"]["materials"]["total"] == 19500

    # Who reported, in the JSON and in the text.
    reporting = figures["reporting"]
    assert reporting["missing"] == [
        {"code": "410602", "name": "鹤山区"},
        {"code": "410622", "name": "淇县"},
    ]
    assert reporting["late"] == [{"code": "410603", "name": "山城区"}]
    assert [u["name"] for u in reporting["waived_units"]] == ["淇滨区"]
    assert (reporting["participants"], reporting["reported"], reporting["complete"]) == (
        6,
        3,
        False,
    )
    assert reporting["last_day"] == "2025-12-10"
    zh = render(figures, lang="zh")
    # The units that took part (four counties, the town counted in 浚县), and the leading
    # unit of each headline metric in the observance's order: 参与群众 first.
    assert "全市4个县区及本级共参与群众" in zh
    assert "其中淇县参与群众5000余人次、组织讲座10多场，浚县发放宣传资料1.8万余份。" in zh
    assert "截至12月10日，鹤山区、淇县尚未报送（淇滨区免报）。" in zh
    assert zh.index("参与群众") < zh.index("发放宣传资料") < zh.index("组织讲座")
    assert "按单位统计" in zh and "\u3000善堂镇" in zh
    en = render(figures, lang="en")
    assert "across 4 reporting units and the organiser" in en
    assert "As of 10 December, 鹤山区 and 淇县 had not reported (淇滨区 waived)." in en
    assert json.loads(render(figures, fmt="json"))["reporting"]["missing"][1]["name"] == "淇县"

    # The chart: one bar per top-level unit that recorded, a panel per headline metric.
    series = chart_series(figures)
    named = [figures["metrics"][m] for m in figures["by_unit"]["headline"]]
    assert list(series) == [f"{m['zh']}（{m['unit']}）" for m in named]
    assert [list(bars) for bars in series.values()] == [
        ["鹤山区", "山城区", "浚县", "淇县", "本级"]
    ] * 3
    png = render_daily_chart_bytes(series, title="宪法宣传周", width_px=900, height_px=500)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.size == (900, 500)
    assert sum(image.convert("L").histogram()[:128]) > 2000, "the chart is (nearly) blank"

    # The workbook and CSV carry the 按单位统计 table.
    book = CalamineWorkbook.from_filelike(io.BytesIO(summary_xlsx(figures)))
    assert book.sheet_names == ["汇总", "按日", "按地点", UNIT_SHEET]
    cells = book.get_sheet_by_name(UNIT_SHEET).to_python()
    header = next(i for i, r in enumerate(cells) if r[0] == "单位")
    rows = {
        str(r[0]).strip("\u3000"): dict(zip(cells[header], r, strict=True))
        for r in cells[header + 1 :]
    }
    assert list(rows) == ["鹤山区", "山城区", "淇滨区", "浚县", "善堂镇", "淇县", "本级"]
    materials = next(h for h in cells[header] if str(h).startswith("宣传资料（"))
    assert rows["浚县"][materials] == 18200 and rows["善堂镇"][materials] == 3200
    assert rows["鹤山区"][materials] == 800
    assert rows["淇县"]["报送情况"] == "未报送" and rows["山城区"]["报送情况"] == "逾期报送"
    assert rows["淇滨区"]["报送情况"] == "免报" and rows["浚县"]["报送情况"] == "已报送"
    csvs = dict(summary_csvs(figures))
    assert list(csvs) == [f"{CAMPAIGN}.csv", f"{CAMPAIGN}-按单位统计.csv"]
    unit_csv = csvs[f"{CAMPAIGN}-按单位统计.csv"].decode("utf-8-sig").splitlines()
    assert unit_csv[0].startswith("单位,") and unit_csv[4].startswith("浚县,")


def test_digest_progress_line_hostile_unit_names_and_a_campaign_without_units(env: Env) -> None:
    hostile = [
        (CITY, "鹤壁市", None),
        ("X1", "<b>某县</b>", CITY),
        ("X2", '=HYPERLINK("http://evil.example","点击")', CITY),
    ]
    with sessions_for(env) as sessions:
        add_units(sessions, hostile)
        make_campaign(sessions, "2025-with-units", "constitution-day", ["X1", "X2"])
        make_campaign(sessions, "2025-no-units", "world-ip-day", [])
        store(sessions, "2025-with-units", "X1", ("materials", 50, 2))
        store(sessions, "2025-with-units", "X2", ("materials", 30, 2), ("boards", 4, 3))
        store(sessions, "2025-no-units", None, ("materials", 70, 2), ("boards", 1, 3))
        with sessions() as s:
            for campaign_id in ("2025-with-units", "2025-no-units"):
                assert transition(
                    campaign_id,
                    CampaignStatus.scheduled,
                    CampaignStatus.running,
                    session=s,
                    actor="t",
                )
            mark_reported("2025-with-units", ["X2"], how=ReportHow.submitted, session=s, actor="t")
        with sessions() as s:
            digests = {
                campaign_id: compile_digest(
                    campaign_id, date(2025, 12, 3), session=s, actor="t", now=local(12, 3, 18)
                )
                for campaign_id in ("2025-with-units", "2025-no-units")
            }
    stored: dict[str, dict[str, Any]] = {}
    for campaign_id, digest in digests.items():
        assert digest is not None, campaign_id
        stored[campaign_id] = json.loads(digest.figures)
    with_units, without = stored["2025-with-units"], stored["2025-no-units"]

    # The evening digest carries the progress line, and its JSON the reporting state.
    assert with_units["reporting"]["progress"]["zh"] == "2个单位中已报送1个（50%）"
    assert with_units["reporting"]["missing"] == [{"code": "X1", "name": "<b>某县</b>"}]
    assert "报送进度：2个单位中已报送1个（50%）。" in render(with_units, lang="zh")
    assert "Reporting: 1 of 2 units reported (50%)." in render(with_units, lang="en")

    # User-typed unit names are text: escaped in HTML, neutralised in the workbook and CSV.
    page = render(with_units, lang="zh", fmt="html")
    assert "<b>某县" not in page and "&lt;b&gt;某县&lt;/b&gt;" in page
    sheets = {name: rows for name, _, rows in summary_sheets(with_units)}
    assert [row[0] for row in sheets[UNIT_SHEET]] == [hostile[1][1], hostile[2][1]]
    book = CalamineWorkbook.from_filelike(io.BytesIO(summary_xlsx(with_units)))
    names = [r[0] for r in book.get_sheet_by_name(UNIT_SHEET).to_python()]
    assert "'" + hostile[2][1] in names and hostile[2][1] not in names
    unit_csv = dict(summary_csvs(with_units))["2025-with-units-按单位统计.csv"].decode("utf-8-sig")
    assert "\r\n\"'=HYPERLINK(" in unit_csv

    # No participants and no unit tallies: the figures, and so everything, as before units.
    assert "by_unit" not in without and "reporting" not in without
    assert [name for name, _, _ in summary_sheets(without)] == ["汇总", "按日", "按地点"]
    assert [name for name, _ in summary_csvs(without)] == ["2025-no-units.csv"]
    assert all(isinstance(day, date) for bars in chart_series(without).values() for day in bars)
    text_without = render(without, lang="zh")
    assert "报送" not in text_without and "按单位统计" not in text_without
