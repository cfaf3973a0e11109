"""A campaign's 成果统计 (.docx, GB/T 9704, one page), the summary email's attachment.

Real campaigns compiled into final summaries on a real SQLite file, the sheet read back
(page, margins, fonts in every slot of every run, the narrative, the table's exact figures),
converted by LibreOffice headless: exactly one page, the narrative in the extracted text.
The page-fitting estimate is held against LibreOffice on a spread of campaigns. The summary
email composed by the delivery code carries the sheet for a final summary, not for a digest.
Hostile text is cleaned and escaped.
"""

from __future__ import annotations

import copy
import email
import io
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Length

from campaigns.delivery.sending import DOCX_TYPE, DeliveryJob, compose_email
from campaigns.models import Campaign
from campaigns.planning.campaigns import CampaignSpec, create_campaign, local_days
from campaigns.reports import campaign_sheet
from campaigns.reports.campaign_sheet import (
    CampaignSheet,
    draft_campaign_sheet,
    write_campaign_docx,
    write_sheet,
)
from campaigns.settings import Settings
from campaigns.summaries.prose import narrative
from campaigns.summaries.versions import as_digest, latest_summary
from tests.test_report import Db, new_db
from tests.test_report_docx import (
    _ALIAS,
    FONTS_CONF,
    SUBSTITUTES,
    flat,
    libreoffice_pdf,
    need,
    pdf_fonts,
    pdf_pages,
    pdf_text,
)

ORG = "鹤壁市科学技术局"
DATED = date(2019, 4, 27)
SIGNATURE = "鹤壁市科学技术局办公室"
IP_DAY = {"boards": 2, "materials": 312, "consultations": 620}
IP_DAY_2018 = {"boards": 2, "materials": 290, "consultations": 540}
# Eight metrics, each with a target and last year's figure: the full narrative (targets and
# last year for every metric) would run to a second page.
EIGHT = {
    "lectures": 12,
    "trainings": 6,
    "trainees": 350,
    "materials": 15300,
    "consultations": 2650,
    "boards": 120,
    "volunteers": 48,
    "funding": 186000,
}
HOSTILE = '2019年<w:t>x</w:t>&amp;<script>alert("x")</script>\x00\x07\x1b[31m\u202e宣传活动'
HOSTILE_SHOWN = '2019年<w:t>x</w:t>&amp;<script>alert("x")</script>[31m宣传活动'
# What a header allows (no control character), still markup.
MARKUP_TITLE = '2019年<w:t>x</w:t>&amp;<script>alert("x")</script>宣传活动'


def reported(
    db: Db,
    kind: str,
    year: int,
    counts: dict[str, int],
    *,
    targets: dict[str, int] | None = None,
    venue: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """A campaign created, tallied on its first day, closed and compiled: its stored figures."""
    with db.session() as s:
        campaign = create_campaign(
            CampaignSpec(kind=kind, year=year, venue=venue, targets=targets or {}),
            session=s,
            actor="tester",
        )
        campaign_id = campaign.id
    with db.session() as s:
        row = s.get(Campaign, campaign_id)
        assert row is not None
        if title is not None:
            row.title = title  # as if it reached the database by another path
        first, _ = local_days(row)
    db.log(campaign_id, first, counts)
    db.report(campaign_id)
    with db.session() as s:
        summary = latest_summary(campaign_id, session=s)
        assert summary is not None
        figures: dict[str, Any] = json.loads(summary.figures)
        return figures


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    fresh = new_db(tmp_path_factory.mktemp("campaign-docx") / "campaigns.db")
    yield fresh
    fresh.engine.dispose()


@pytest.fixture(scope="module")
def ip_day(db: Db) -> dict[str, Any]:
    reported(db, "world-ip-day", 2018, IP_DAY_2018)
    return reported(
        db, "world-ip-day", 2019, IP_DAY, targets={"materials": 300}, venue="新世纪广场"
    )


@pytest.fixture(scope="module")
def eight(db: Db) -> dict[str, Any]:
    reported(db, "sci-tech-week", 2018, {k: v * 9 // 10 for k, v in EIGHT.items()})
    return reported(
        db,
        "sci-tech-week",
        2019,
        EIGHT,
        targets={k: v + 100 for k, v in EIGHT.items()},
        venue="鹤壁市新世纪广场及各县区主要街道",
    )


def sheet_of(figures: dict[str, Any]) -> CampaignSheet:
    return draft_campaign_sheet(
        figures, version=figures["version"], org_name=ORG, signature=SIGNATURE, dated=DATED
    )


@pytest.fixture(scope="module")
def sheet(ip_day: dict[str, Any]) -> CampaignSheet:
    return sheet_of(ip_day)


@pytest.fixture(scope="module")
def document_bytes(ip_day: dict[str, Any]) -> bytes:
    return write_campaign_docx(
        ip_day, version=ip_day["version"], org_name=ORG, signature=SIGNATURE, dated=DATED
    )


@pytest.fixture(scope="module")
def document(document_bytes: bytes) -> Any:
    return docx.Document(io.BytesIO(document_bytes))


def layout_text(pdf: bytes) -> str:
    """pdftotext -layout: a table row stays one line."""
    result = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode()


def runs(document: Any) -> Iterator[tuple[str, Any]]:
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            yield paragraph.style.name, run
    for table in document.tables:
        for i, row in enumerate(table.rows):
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    for run in paragraph.runs:
                        yield "header" if i == 0 else "table", run
    section = document.sections[0]
    for footer in (section.footer, section.even_page_footer):
        for paragraph in footer.paragraphs:
            for run in paragraph.runs:
                yield "footer", run


# --- the document read back ----------------------------------------------------------------


def test_page_size_margins_grid_and_page_numbers(document: Any) -> None:
    section = document.sections[0]
    assert round(section.page_width.mm) == 210 and round(section.page_height.mm) == 297
    assert [round(m.mm, 1) for m in (section.top_margin, section.bottom_margin)] == [37.0, 35.0]
    assert [round(m.mm, 1) for m in (section.left_margin, section.right_margin)] == [28.0, 26.0]
    text_width = Length(section.page_width - section.left_margin - section.right_margin)
    assert round(text_width.mm) == 156
    assert section._sectPr.find(qn("w:docGrid")).get(qn("w:linePitch")) == "579"
    assert document.settings.odd_and_even_pages_header_footer
    for footer in (section.footer, section.even_page_footer):
        paragraph = footer.paragraphs[0]
        assert re.findall(r'w:fldCharType="(\w+)"', paragraph._p.xml) == [
            "begin",
            "separate",
            "end",
        ]
        assert paragraph.text == "— 1 —"


def test_every_run_names_its_east_asian_font(document: Any, document_bytes: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(document_bytes)) as z:
        styles_xml = z.read("word/styles.xml").decode()
        document_xml = z.read("word/document.xml").decode()
        settings_xml = z.read("word/settings.xml").decode()
    for attribute in ("asciiTheme", "eastAsiaTheme", "hAnsiTheme", "cstheme"):
        assert attribute not in styles_xml and attribute not in document_xml
    assert re.search(r'<w:themeFontLang w:val="en-US" w:eastAsia="zh-CN"', settings_xml)
    expected = {
        "GB Title": ("方正小标宋简体", 22.0),
        "Normal": ("仿宋_GB2312", 16.0),
        "GB Signature": ("仿宋_GB2312", 16.0),
        "header": ("黑体", 12.0),
        "table": ("仿宋_GB2312", 12.0),
        "footer": ("宋体", 14.0),
    }
    seen = set()
    for where, run in runs(document):
        rpr = run._r.rPr
        fonts = rpr.find(qn("w:rFonts"))
        for slot in ("ascii", "hAnsi", "eastAsia", "cs"):
            assert fonts.get(qn(f"w:{slot}")), (where, run.text, slot)
        assert rpr.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-CN"
        assert (fonts.get(qn("w:eastAsia")), run.font.size.pt) == expected[where], where
        seen.add(where)
    assert seen == set(expected)


def test_title_narrative_table_and_signature(
    document: Any, sheet: CampaignSheet, ip_day: dict[str, Any]
) -> None:
    texts = [p.text for p in document.paragraphs]
    title = "2019年世界知识产权日宣传活动成果统计"
    assert sheet.title == title and not sheet.shortened and sheet.gap
    # The full narrative, as the email's body says it: targets and last year included.
    story = narrative(ip_day, lang="zh")
    assert "对照目标" in story and "与上年同期相比" in story
    assert texts == [title, "", story, "", "", SIGNATURE, "2019年4月27日"]
    paragraphs = document.paragraphs
    assert paragraphs[0].style.name == "GB Title"
    assert paragraphs[0].alignment in (None, WD_ALIGN_PARAGRAPH.CENTER)
    assert paragraphs[2].style.name == "Normal"
    assert paragraphs[5].style.name == paragraphs[6].style.name == "GB Signature"
    (table,) = document.tables
    cells = [[cell.text for cell in row.cells] for row in table.rows]
    assert cells[0] == ["指标", "数量", "单位", "目标", "完成", "上年同期", "同比"]
    by_name = {row[0]: row[1:] for row in cells[1:]}
    assert by_name == {
        "展板": ["2", "块", "", "", "2", "+0%"],
        "宣传资料": ["312", "份", "300", "104%", "290", "+7.6%"],
        "咨询": ["620", "人次", "", "", "540", "+14.8%"],
    }
    assert len(cells) == 1 + len(ip_day["metrics"])
    props = document.core_properties
    assert (props.title, props.author, props.revision) == (title, SIGNATURE, 1)


def test_libreoffice_sets_it_on_one_page(
    document_bytes: bytes, sheet: CampaignSheet, tmp_path: Path
) -> None:
    pdf = libreoffice_pdf(document_bytes, tmp_path)
    assert pdf_pages(pdf) == 1
    text = flat(pdf_text(pdf))
    assert text.startswith(flat(sheet.title + sheet.narrative)), text[:300]
    rows = [line.split() for line in layout_text(pdf).splitlines()]
    assert ["宣传资料", "312", "份", "300", "104%", "290", "+7.6%"] in rows
    assert ["咨询", "620", "人次", "540", "+14.8%"] in rows
    assert text.endswith(flat(SIGNATURE + "2019年4月27日"))
    pdf_fonts(pdf, tmp_path)


def test_eight_metrics_with_targets_and_last_year_still_one_page(
    eight: dict[str, Any], tmp_path: Path
) -> None:
    sheet = sheet_of(eight)
    # Targets and last year for all eight would take the narrative past the page: they stay
    # in the table, the narrative keeps every figure.
    assert sheet.shortened and campaign_sheet.fits_one_page(sheet)
    full = narrative(eight, lang="zh")
    assert full.startswith(sheet.narrative[:-1]) and len(sheet.narrative) < len(full)
    assert "对照目标" not in sheet.narrative and "与上年同期相比" not in sheet.narrative
    assert [row[0] for row in sheet.rows] == [m["zh"] for m in eight["metrics"].values()]
    pdf = libreoffice_pdf(write_sheet(sheet), tmp_path)
    assert pdf_pages(pdf) == 1
    assert flat(sheet.narrative) in flat(pdf_text(pdf))
    # …and the estimate was right that the full narrative does not fit.
    overflowing = replace(sheet, narrative=full, shortened=False, gap=True)
    assert not campaign_sheet.fits_one_page(overflowing)
    (tmp_path / "full").mkdir()
    assert pdf_pages(libreoffice_pdf(write_sheet(overflowing), tmp_path / "full")) == 2


def test_fourteen_metrics_take_the_compact_table_and_still_one_page(
    eight: dict[str, Any], tmp_path: Path
) -> None:
    figures = copy.deepcopy(eight)
    boards = figures["metrics"]["boards"]
    # Six of the organiser's own metrics, after the observance's eight (stored figures keep
    # that order).
    for i in range(6):
        figures["metrics"][f"custom-{i}"] = {**boards, "zh": f"自定义{i}", "total": 100 + i}
    sheet = sheet_of(figures)
    assert (sheet.shortened, sheet.gap, sheet.table_size) == (True, False, 10.5)
    assert len(sheet.rows) == 14 and campaign_sheet.fits_one_page(sheet)
    assert pdf_pages(libreoffice_pdf(write_sheet(sheet), tmp_path)) == 1


def _variants(eight: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Campaigns of one to eight metrics, with and without targets and last year, with a
    long venue: the cases the estimate must get right."""
    ids = list(eight["metrics"])
    for n in (1, 3, 5, 6, 8):
        for targets, previous in ((False, False), (True, False), (False, True), (True, True)):
            figures = copy.deepcopy(eight)
            figures["metrics"] = {k: figures["metrics"][k] for k in ids[:n]}
            for m in figures["metrics"].values():
                if not targets:
                    m["target"] = m["reached_pct"] = None
                if not previous:
                    m["previous"] = m["change_pct"] = None
            figures["campaign"]["venue"] = "鹤壁市新世纪广场及各县区主要街道和社区文化广场"
            yield f"n{n}-t{int(targets)}-p{int(previous)}", figures


def test_the_page_estimate_never_falls_short_of_libreoffice(
    eight: dict[str, Any], tmp_path: Path
) -> None:
    soffice = need("soffice")
    sheets = {name: sheet_of(figures) for name, figures in _variants(eight)}
    for name, sheet in sheets.items():
        assert campaign_sheet.fits_one_page(sheet), name
        (tmp_path / f"{name}.docx").write_bytes(write_sheet(sheet))
    conf = tmp_path / "fonts.conf"
    aliases = "\n".join(
        _ALIAS.format(name=name, to=to, extra=extra) for name, (to, extra) in SUBSTITUTES.items()
    )
    conf.write_text(FONTS_CONF.format(aliases=aliases))
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            *(str(tmp_path / f"{name}.docx") for name in sheets),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "FONTCONFIG_FILE": str(conf)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pages = {name: pdf_pages((tmp_path / f"{name}.pdf").read_bytes()) for name in sheets}
    assert pages == dict.fromkeys(sheets, 1)


# --- hostile text ----------------------------------------------------------------------------


def test_hostile_text_is_cleaned_and_escaped(ip_day: dict[str, Any]) -> None:
    figures = copy.deepcopy(ip_day)
    figures["campaign"]["title"] = HOSTILE
    figures["campaign"]["venue"] = "广场<b>\x0b\u202e</b>"
    figures["metrics"]["boards"]["zh"] = "展板<w:p>\x01"
    data = write_campaign_docx(
        figures, version=3, org_name="科技局\x1f", signature="署名\x00<w:r>", dated=DATED
    )
    document = docx.Document(io.BytesIO(data))
    texts = [p.text for p in document.paragraphs]
    assert texts[0].replace("\n", "") == HOSTILE_SHOWN + "成果统计"
    assert "在广场<b> </b>组织开展" in texts[2]
    assert texts[-2] == "署名<w:r>"
    cells = [cell.text for row in document.tables[0].rows for cell in row.cells]
    assert "展板<w:p>" in cells
    for text in (*texts, *cells):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", text), text
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read("word/document.xml").decode()
        core = z.read("docProps/core.xml").decode()
    assert "&lt;w:t&gt;x&lt;/w:t&gt;&amp;amp;&lt;script&gt;" in xml and "<w:t>x</w:t>" not in xml
    assert "&lt;script&gt;" in core
    assert document.core_properties.revision == 3


# --- the summary email ---------------------------------------------------------------------


def email_of(figures: dict[str, Any], tmp_path: Path) -> EmailMessage:
    """The summary email as the delivery code composes it, parsed back from its bytes."""
    job = DeliveryJob(
        delivery_id=1,
        channel="email",
        address="leader@bureau.example",
        name="局长",
        secret_env=None,
        message_id="<0123abcd@bureau.example>",
        attempt=1,
        claim="test",
        summary_version=figures.get("version", -1),
        figures=figures,
    )
    settings = Settings(
        data_dir=tmp_path,
        mail_from="publicity@bureau.example",
        org_name=ORG,
        report_signature=SIGNATURE,
    )
    raw = compose_email(job, settings=settings).as_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def attached(message: EmailMessage) -> dict[str, EmailMessage]:
    found = {}
    for part in message.iter_attachments():
        name = part.get_filename()
        assert isinstance(name, str) and isinstance(part, EmailMessage)
        found[name] = part
    return found


def test_a_final_summary_email_carries_the_sheet(ip_day: dict[str, Any], tmp_path: Path) -> None:
    campaign_id = ip_day["campaign"]["id"]
    parts = attached(email_of(ip_day, tmp_path))
    sheet_name = f"{campaign_id}-v1-成果统计.docx"
    assert list(parts) == [f"{campaign_id}.xlsx", f"{campaign_id}.csv", sheet_name]
    part = parts[sheet_name]
    assert part.get_content_type() == DOCX_TYPE
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    document = docx.Document(io.BytesIO(data))
    texts = [p.text for p in document.paragraphs]
    # Signed from the settings, dated the day the summary was compiled.
    compiled = date.fromisoformat(ip_day["as_of"][:10])
    assert texts[0] == "2019年世界知识产权日宣传活动成果统计"
    assert texts[2] == narrative(ip_day, lang="zh")
    assert texts[-2:] == [SIGNATURE, f"{compiled.year}年{compiled.month}月{compiled.day}日"]


def test_a_digest_email_has_no_sheet(ip_day: dict[str, Any], tmp_path: Path) -> None:
    campaign_id = ip_day["campaign"]["id"]
    digest = as_digest({**ip_day, "version": -1}, date(2019, 4, 22))
    assert list(attached(email_of(digest, tmp_path))) == [
        f"{campaign_id}.xlsx",
        f"{campaign_id}.csv",
    ]


def test_a_markup_title_reaches_the_sheet_as_text(db: Db, tmp_path: Path) -> None:
    figures = reported(db, "national-security-day", 2019, {"volunteers": 20}, title=MARKUP_TITLE)
    parts = attached(email_of(figures, tmp_path))
    (name,) = [n for n in parts if n.endswith(".docx")]
    data = parts[name].get_payload(decode=True)
    assert isinstance(data, bytes)
    document = docx.Document(io.BytesIO(data))
    assert document.paragraphs[0].text.replace("\n", "") == MARKUP_TITLE + "成果统计"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "<script>" not in z.read("word/document.xml").decode()
