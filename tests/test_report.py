"""The year's report: section 七 of the reference recreated from its exact counts, and the
cases a clerk meets (last year, live, planned, cancelled, an empty year, hostile text, groups),
through the domain and through `campaigns report` on a real SQLite file.

The 2019 campaigns below are the reference's, figure for figure: compiled into final summaries
by the real code, they must give back section 七's figures in section 七's order. The golden
files under tests/golden/ were read against the reference once (see the note in each); set
CAMPAIGNS_UPDATE_GOLDEN=1 to rewrite them after a deliberate change, and read them again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.db import make_engine, session_scope, upgrade_database
from campaigns.errors import InvalidInputError
from campaigns.models import Campaign, CampaignStatus
from campaigns.planning.campaigns import CampaignSpec, create_campaign
from campaigns.planning.lifecycle import cancel_campaign, close_campaign, transition
from campaigns.reports.render import as_json, build_year_report, render_year_report, write_report
from campaigns.reports.section import YearReport
from campaigns.reports.year import CampaignNotes, clean_text
from campaigns.summaries.numerals import official_en, official_zh
from campaigns.summaries.versions import compile_final_summary
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_tallies
from tests.conftest import Env, make_env

SHANGHAI = ZoneInfo("Asia/Shanghai")
GOLDEN = Path(__file__).parent / "golden"
GOLDEN_RULE = "# ----\n"
ORG = "鹤壁市科学技术局"
HEADING_7 = "七、加大法制宣传力度，增强全民法制意识"
# Section 七's order: 科技活动周, then 12·4 with 4·15 in one paragraph, then 4·26.
GROUPS_7 = ("sci-tech-week", "constitution-day+national-security-day", "world-ip-day")
DATED = date(2020, 2, 11)

# Section 七's figures as exact counts (10多场 -> 12 lectures, 数百人 -> 350 people trained...).
SCI_TECH_WEEK = {
    "lectures": 12,
    "trainees": 350,
    "legal-services": 108,
    "materials": 10240,
    "attendance": 9870,
    "units": 103,
    "boards": 120,
    "funding": 103000,
}
SECURITY_DAY = {"volunteers": 20}  # 组织干部职工20人参加
IP_DAY = {"boards": 2, "materials": 312, "consultations": 620}
# What the figures do not hold: the forms of activity section 七 names.
NOTES_2019 = {
    "2019-sci-tech-week": CampaignNotes(forms=("法律宣传进社区", "法律宣传进企业")),
    "2019-world-ip-day": CampaignNotes(forms=("现场咨询", "疑难解答", "分发宣传材料")),
    "2019-constitution-day": CampaignNotes(
        forms=("到社区开展宪法宣传", "专题制作宪法宣传片", "网上知识竞赛")
    ),
}

Sessions = Callable[[], AbstractContextManager[Session]]


@dataclass
class Db:
    url: str
    engine: Engine

    def session(self) -> AbstractContextManager[Session]:
        return session_scope(self.engine)

    def campaign(
        self,
        kind: str,
        year: int,
        *,
        first: date | None = None,
        last: date | None = None,
        title: str | None = None,
        venue: str | None = None,
        partners: str | None = None,
        campaign_id: str | None = None,
    ) -> str:
        with self.session() as s:
            campaign = create_campaign(
                CampaignSpec(
                    kind=kind,
                    year=year,
                    first_day=first,
                    last_day=last,
                    title=title,
                    venue=venue,
                    campaign_id=campaign_id,
                ),
                session=s,
                actor="tester",
            )
            # No command sets partners yet; the column is there and the report reads it.
            campaign.partners = partners
            return campaign.id

    def log(self, campaign_id: str, day: date, counts: dict[str, int], tag: str = "") -> None:
        at = datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI)
        tallies = [
            NewTally(metric=m, quantity=q, occurred_at=at, key=f"{campaign_id}-{m}{tag}")
            for m, q in counts.items()
        ]
        with self.session() as s:
            campaign = s.get(Campaign, campaign_id)
            assert campaign is not None
            store_tallies(campaign, tallies, session=s)

    def report(self, campaign_id: str) -> None:
        """Close and compile the final summary, as the dispatcher does."""
        with self.session() as s:
            close_campaign(campaign_id, session=s, actor="tester")
        with self.session() as s:
            assert compile_final_summary(campaign_id, session=s, actor="tester") is not None

    def build(self, year: int, **options: Any) -> YearReport:
        options.setdefault("org_name", ORG)
        options.setdefault("dated", DATED)
        with self.session() as s:
            return build_year_report(year, session=s, **options)


def new_db(path: Path) -> Db:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade_database(engine)
    return Db(url, engine)


def seed_2019(db: Db) -> None:
    """Section 七's four campaigns, each compiled into its final summary."""
    week = db.campaign(
        "sci-tech-week",
        2019,
        first=date(2019, 5, 19),
        last=date(2019, 5, 26),
        title="2019年鹤壁市科技活动周",
        partners="市直有关部门及各县区科技主管部门",
    )
    db.log(week, date(2019, 5, 20), SCI_TECH_WEEK)
    security = db.campaign("national-security-day", 2019, venue="新世纪广场")
    db.log(security, date(2019, 4, 15), SECURITY_DAY)
    ip_day = db.campaign("world-ip-day", 2019, venue="新世纪广场", partners="市市场监管局")
    db.log(ip_day, date(2019, 4, 26), IP_DAY)
    constitution = db.campaign("constitution-day", 2019)
    for campaign_id in (week, security, ip_day, constitution):
        db.report(campaign_id)


@pytest.fixture(scope="module")
def db_2019(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    db = new_db(tmp_path_factory.mktemp("report") / "campaigns.db")
    seed_2019(db)
    yield db
    db.engine.dispose()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Db]:
    fresh = new_db(tmp_path / "campaigns.db")
    yield fresh
    fresh.engine.dispose()


def section_7(db: Db, lang: str = "zh", **options: Any) -> YearReport:
    return db.build(
        2019,
        lang=lang,
        heading=HEADING_7 if lang == "zh" else None,
        groups=GROUPS_7,
        order="given",
        notes=NOTES_2019,
        **options,
    )


def check_golden(name: str, text: str) -> None:
    """The file is a note (lines starting with #) down to GOLDEN_RULE, then the text."""
    path = GOLDEN / name
    if os.environ.get("CAMPAIGNS_UPDATE_GOLDEN"):
        note = path.read_text().split(GOLDEN_RULE, 1)[0] if path.exists() else "#\n"
        path.write_text(f"{note}{GOLDEN_RULE}{text}")
    golden = path.read_text().split(GOLDEN_RULE, 1)[1]
    assert text == golden, (
        f"the report no longer matches {path}; after a deliberate change rerun with "
        "CAMPAIGNS_UPDATE_GOLDEN=1 and read the file against section 七 again"
    )


# --- section 七 ---------------------------------------------------------------------------


def test_2019_gives_back_section_seven_golden(db_2019: Db) -> None:
    check_golden("report-2019.zh.txt", write_report(section_7(db_2019), "text").decode())
    check_golden("report-2019.en.txt", write_report(section_7(db_2019, "en"), "text").decode())


def _zh(counts: dict[str, int], metric: str, unit: str, **kw: Any) -> str:
    return official_zh(counts[metric], unit, **kw)


def test_figures_and_order_are_section_sevens(db_2019: Db) -> None:
    """Whatever numerals decides, each figure is its count stated by numerals, in section 七's
    order; with today's rules they are section 七's own strings."""
    report = section_7(db_2019)
    lead, first, second, third = report.body
    w = SCI_TECH_WEEK
    expected_week = (
        f"共组织讲座{_zh(w, 'lectures', '场')}，"
        f"培训干部群众{_zh(w, 'trainees', '人', vague=True)}，"
        f"提供法律服务{_zh(w, 'legal-services', '次')}，发放宣传资料{_zh(w, 'materials', '份')}，"
        f"参与群众{_zh(w, 'attendance', '人次')}，参加活动的单位{_zh(w, 'units', '家')}，"
        f"展出展板{_zh(w, 'boards', '块')}，投入经费{_zh(w, 'funding', '元', money=True)}。"
    )
    assert first.startswith(
        "一是积极开展2019年鹤壁市科技活动周系列活动。科技活动周期间（5月19日—26日）"
    )
    assert first.endswith(expected_week)
    assert second.startswith("二是积极开展“12·4”国家宪法日、“4·15”全民国家安全教育日系列宣传活动。")
    assert "全民国家安全教育日当天（4月15日），在新世纪广场" in second
    assert second.endswith(f"共组织志愿者{_zh(SECURITY_DAY, 'volunteers', '人')}。")
    assert third.startswith(
        "三是积极开展2019年世界知识产权日宣传活动。世界知识产权日期间（4月20日—26日）"
    )
    assert third.endswith(
        f"共展出展板{_zh(IP_DAY, 'boards', '块')}，发放宣传资料{_zh(IP_DAY, 'materials', '份')}，"
        f"接受群众咨询{_zh(IP_DAY, 'consultations', '人次')}。"
    )
    # Section 七's strings (10000余册 is 份 here: the built-in unit of materials).
    reference = [
        "10多场",
        "数百人",
        "100多次",
        "10000余",
        "近10000人次",
        "100多家",
        "100多块",
        "10多万元",
    ]
    positions = [first.find(figure) for figure in reference]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "20人" in second
    positions = [third.find(figure) for figure in ("2块", "300余份", "600余人次")]
    assert -1 not in positions and positions == sorted(positions), positions
    # The lead: four campaigns and the year's totals, each once.
    materials = SCI_TECH_WEEK["materials"] + IP_DAY["materials"]
    assert lead == (
        f"2019年，我局共组织开展宣传活动4场次，累计发放宣传资料{official_zh(materials, '份')}，"
        f"参与群众{_zh(w, 'attendance', '人次')}，"
        f"接受群众咨询{_zh(IP_DAY, 'consultations', '人次')}，"
        f"投入经费{_zh(w, 'funding', '元', money=True)}。"
    )
    # No metric stated twice in a sentence, no empty clause.
    for paragraph in report.body:
        for sentence in re.split("[。；]", paragraph):
            for phrase in ("发放宣传资料", "展出展板", "接受群众咨询", "投入经费", "组织讲座"):
                assert sentence.count(phrase) <= 1, sentence
        assert "，，" not in paragraph and "，。" not in paragraph and "共。" not in paragraph
    assert report.closing is None  # no 2018 in the database
    # English from the same data.
    en = section_7(db_2019, "en")
    assert en.body[1].startswith("First, Science and Technology Week 2019 (19–26 May 2019).")
    assert f"handed out {official_en(10240, 'copies')} of publicity materials" in en.body[1]
    assert (
        "Second, the campaigns of Constitution Day 2019 and National Security Education Day"
        in (en.body[2])
    )


def test_appendix_holds_every_exact_figure(db_2019: Db) -> None:
    report = section_7(db_2019)
    rows = {(block.campaign, row[0]): row[1] for block in report.appendix for row in block.rows}
    assert rows[("2019年鹤壁市科技活动周", "宣传资料")] == "10240份"
    assert rows[("2019年鹤壁市科技活动周", "经费")] == "10.3万元"
    assert rows[("2019年鹤壁市科技活动周", "参与人次")] == "9870人次"
    assert rows[("2019年世界知识产权日宣传活动", "咨询")] == "620人次"
    assert rows[("2019年国家宪法日宣传活动", "—")] == "无统计数据"
    assert [b.status for b in report.appendix] == ["终稿第1版"] * 4
    assert report.attachment_note == "附件：2019年度宣传活动数据统计表"
    assert report.dated_text == "2020年2月11日"


def test_date_order_by_default(db_2019: Db) -> None:
    report = db_2019.build(2019, groups=["constitution-day+national-security-day"])
    # 4·15 (15 April) leads its group; then 4·26 (20 April), then the week (19 May).
    assert [p[:2] for p in report.items] == ["一是", "二是", "三是"]
    assert "国家宪法日、“4·15”" in report.items[0]
    assert "世界知识产权日" in report.items[1] and "科技活动周" in report.items[2]
    assert report.heading == "一、加大法制宣传力度，增强全民法制意识"
    assert report.title == f"{ORG}关于2019年度宣传活动开展情况的报告"


def test_json_says_where_each_figure_comes_from(db_2019: Db) -> None:
    data = json.loads(write_report(section_7(db_2019), "json"))
    assert data["paragraphs"][0].startswith("一是")
    sources = {c["id"]: (c["source"], c["version"]) for c in data["campaigns"]}
    assert sources["2019-sci-tech-week"] == ("final", 1)
    week = next(c for c in data["campaigns"] if c["id"] == "2019-sci-tech-week")
    assert week["totals"]["lectures"] == 12 and week["source"] == "final"
    assert as_json(section_7(db_2019))["date"] == "2020-02-11"


# --- last year, live, planned, cancelled, empty ---------------------------------------------


def test_comparison_with_last_year_and_closing(db: Db) -> None:
    before = db.campaign("world-ip-day", 2018, venue="新世纪广场")
    db.log(before, date(2018, 4, 26), {"materials": 250, "consultations": 650})
    db.report(before)
    now = db.campaign("world-ip-day", 2019, venue="新世纪广场")
    db.log(now, date(2019, 4, 26), {"materials": 312, "consultations": 620, "boards": 2})
    security = db.campaign("national-security-day", 2019)
    db.log(security, date(2019, 4, 15), {"attendance": 150})
    db.report(now)
    db.report(security)
    report = db.build(2019)
    ip_paragraph = next(p for p in report.items if "世界知识产权日" in p)
    assert "与上年同期相比，宣传资料增长24.8%，咨询下降4.6%。" in ip_paragraph
    assert report.closing == "与上年相比，全年宣传活动增加1场次，宣传资料增长24.8%，咨询下降4.6%。"
    en = db.build(2019, lang="en")
    assert en.closing == (
        "Compared with 2018: 1 more campaign; publicity materials up 24.8%; "
        "consultations down 4.6%."
    )
    assert "Compared with last year: publicity materials up 24.8%" in " ".join(en.items)


def test_live_planned_and_cancelled(db: Db) -> None:
    done = db.campaign("world-ip-day", 2019, venue="新世纪广场")
    db.log(done, date(2019, 4, 26), {"materials": 312})
    db.report(done)
    running = db.campaign("sci-tech-week", 2019)
    db.log(running, date(2019, 5, 20), {"lectures": 12})
    with db.session() as s:
        assert transition(
            running, CampaignStatus.scheduled, CampaignStatus.running, session=s, actor="tester"
        )
    cancelled = db.campaign("national-security-day", 2019)
    with db.session() as s:
        cancel_campaign(cancelled, session=s, actor="tester", reason="疫情")
    db.campaign("constitution-day", 2019)  # planned
    report = db.build(2019)
    text = "\n".join(report.body)
    assert report.lead == (
        "2019年，我局共组织开展宣传活动2场次，累计发放宣传资料300余份；另有1场次尚未开展。"
    )
    week = next(p for p in report.items if "科技活动周" in p)
    assert re.search(r"（以上为截至\d+月\d+日的实时数据，活动仍在进行。）$", week)
    assert report.items[-1] == "三是计划于12月1日—7日开展2019年国家宪法日宣传活动。"
    assert "国家安全教育日" not in "".join(report.items)
    assert report.notes == ("注：2019年全民国家安全教育日宣传活动（4月15日）已取消，未列入本节。",)
    assert "已取消" in text
    statuses = [b.status for b in report.appendix]
    assert (
        statuses[0] == "终稿第1版" and statuses[1].startswith("实时数据") and statuses[2] == "计划"
    )
    assert report.appendix[2].rows == (("—", "尚未开展", "—", "—"),)
    en = db.build(2019, lang="en")
    assert "Live figures as of" in " ".join(en.items)
    assert en.items[-1] == "Third, Constitution Day 2019 is planned for 1–7 December 2019."
    assert en.notes[0].endswith("was cancelled and is not included.")
    # Every format renders it.
    for fmt in ("text", "markdown", "html", "json", "docx", "pdf"):
        assert write_report(report, fmt)  # type: ignore[arg-type]


def test_a_year_with_no_campaigns_or_only_planned_ones(db: Db) -> None:
    empty = db.build(2031)
    assert empty.body == ("2031年度未登记宣传活动。",)
    assert empty.items == () and empty.appendix == ()
    assert db.build(2031, lang="en").lead == "No publicity campaign was registered for 2031."
    for fmt in ("text", "markdown", "html", "json", "docx", "pdf"):
        assert write_report(empty, fmt)  # type: ignore[arg-type]
    db.campaign("world-ip-day", 2032)
    db.campaign("constitution-day", 2032)
    planned = db.build(2032)
    assert planned.lead == "2032年度宣传活动尚未开展，已安排2场次。"
    assert planned.items == (
        "一是计划于4月20日—26日开展2032年世界知识产权日宣传活动。",
        "二是计划于12月1日—7日开展2032年国家宪法日宣传活动。",
    )
    grouped = db.build(2032, groups=["world-ip-day+constitution-day"])
    assert grouped.items == (
        "一是计划开展“4·26”世界知识产权日、“12·4”国家宪法日系列宣传活动。"
        "世界知识产权日宣传活动计划于4月20日—26日开展。国家宪法日宣传活动计划于12月1日—7日开展。",
    )
    only = db.campaign("sci-tech-week", 2033)
    with db.session() as s:
        cancel_campaign(only, session=s, actor="tester", reason="停办")
    cancelled = db.build(2033)
    assert cancelled.lead == "2033年度未开展宣传活动。"
    assert cancelled.notes[0].startswith("注：2033年科技活动周宣传活动")


def test_groups_are_checked(db_2019: Db) -> None:
    with pytest.raises(InvalidInputError, match="no campaign of 2019 is 'flag-day'"):
        db_2019.build(2019, groups=["flag-day+world-ip-day"])
    with pytest.raises(InvalidInputError, match="already in --group"):
        db_2019.build(2019, groups=["world-ip-day", "world-ip-day+sci-tech-week"])
    by_id = db_2019.build(2019, groups=["2019-world-ip-day+2019-sci-tech-week"])
    assert len(by_id.items) == 3


# --- hostile text ---------------------------------------------------------------------------

HOSTILE_TITLE = (
    '2019年<w:t>x</w:t>&amp;<script>alert("x")</script>\x00\x07\x1b[31m\u202e#set text(red)*b*'
)


def test_hostile_text_is_cleaned_and_escaped(db: Db) -> None:
    assert clean_text("a\x00b\x07\tc\u202ed\ufffe") == "ab cd"
    campaign = db.campaign(
        "world-ip-day", 2019, title="临时标题", venue="广场<b>\x0b", partners="[链接](javascript:x)"
    )
    with db.session() as s:
        row = s.get(Campaign, campaign)
        assert row is not None
        row.title = HOSTILE_TITLE  # as if it reached the database by another path
    db.log(campaign, date(2019, 4, 26), {"materials": 312})
    db.report(campaign)
    report = db.build(2019, heading="（一）<w:p>标题\x01", signature="署名\x1f")
    shown = '2019年<w:t>x</w:t>&amp;<script>alert("x")</script>[31m#set text(red)*b*'
    assert report.appendix[0].campaign == shown
    assert report.heading == "（一）<w:p>标题" and report.signature == "署名"
    for value in (*report.body, report.heading, report.signature, report.appendix[0].campaign):
        assert not re.search("[\x00-\x1f\x7f\u202e]", value)
    html_out = write_report(report, "html").decode()
    assert "<script>" not in html_out and "&lt;script&gt;" in html_out
    assert "<w:t>" not in html_out and "<b>" not in html_out
    markdown = write_report(report, "markdown").decode()
    assert "\\<script\\>" in markdown and "\\[链接\\]" in markdown
    # .docx: python-docx escapes; the text reads back literally, and the XML stays well formed.
    import io

    import docx

    document = docx.Document(io.BytesIO(write_report(report, "docx")))
    texts = [p.text for p in document.paragraphs]
    assert report.heading in texts
    cells = {cell.text for table in document.tables for row in table.rows for cell in row.cells}
    assert any(shown in cell for cell in cells)
    # PDF: the strings reach Typst as data, so markup in them is set as plain text.
    from tests.test_report_docx import pdf_text

    pdf = write_report(report, "pdf")
    flat = re.sub(r"\s+", "", pdf_text(pdf))
    assert re.sub(r"\s+", "", "#set text(red)*b*") in flat
    assert "<w:t>x</w:t>" in flat


# --- the command ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_2019(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("report-cli")
    env = make_env(f"sqlite:///{root / 'campaigns.db'}", root / "data")
    env.vars["CAMPAIGNS_ORG_NAME"] = ORG
    env.vars["CAMPAIGNS_REPORT_SIGNATURE"] = "中共鹤壁市科学技术局党组"
    db = Db(env.vars["CAMPAIGNS_DATABASE_URL"], make_engine(env.vars["CAMPAIGNS_DATABASE_URL"]))
    seed_2019(db)
    db.engine.dispose()
    yield env
    env.stop_all()


def test_cli_report_text_docx_and_errors(cli_2019: Env, tmp_path: Path) -> None:
    args = ["--group", "constitution-day+national-security-day", "--date", "2020-02-11"]
    out = cli_2019.ok("report", "2019", "--heading", HEADING_7, *args)
    assert out.startswith(f"{ORG}关于2019年度宣传活动开展情况的报告\n\n{HEADING_7}\n")
    assert "一是积极开展“12·4”国家宪法日、“4·15”全民国家安全教育日系列宣传活动。" in out
    assert "\n中共鹤壁市科学技术局党组\n2020年2月11日\n" in out
    target = tmp_path / "2019.docx"
    wrote = cli_2019.ok("report", "2019", "--format", "docx", "-o", str(target), *args)
    assert wrote.startswith(f"wrote {target} (docx,")
    assert target.read_bytes()[:2] == b"PK"
    pdf = tmp_path / "2019.pdf"
    cli_2019.ok("report", "2019", "-o", str(pdf), "--lang", "en")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    data = json.loads(cli_2019.ok("report", "2019", "--format", "json", "--exact"))
    assert "组织讲座12场" in data["paragraphs"][2]
    for bad, message in (
        (["--lang", "fr"], "--lang 'fr': expected zh or en"),
        (["--format", "odt"], "--format 'odt': expected docx, pdf, markdown, html, text or json"),
        (["--group", "flag-day"], "no campaign of 2019 is 'flag-day'"),
        (["-o", str(tmp_path / "missing" / "x.docx")], "does not exist"),
        (["--date", "2020-13-01"], "--date: not a date"),
    ):
        result = cli_2019.run("report", "2019", *bad)
        assert result.returncode == 1, result
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    empty = cli_2019.ok("report", "2030")
    assert "2030年度未登记宣传活动。" in empty


def test_render_year_report_gives_bytes_for_a_caller(db_2019: Db) -> None:
    with db_2019.session() as s:
        data = render_year_report(
            2019, session=s, fmt="docx", org_name=ORG, dated=DATED, groups=list(GROUPS_7)
        )
    assert data[:2] == b"PK"
    with db_2019.session() as s, pytest.raises(InvalidInputError, match="--format 'odt'"):
        render_year_report(2019, session=s, fmt="odt")  # type: ignore[arg-type]
