"""The year's report as PDF (Typst): every glyph from an embedded font, the text extractable
and equal to the narrative, the same pages as the .docx through LibreOffice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from campaigns.reports.render import write_report
from campaigns.reports.section import YearReport
from tests.test_report import Db, new_db, section_7, seed_2019
from tests.test_report_docx import flat, narrative, pdf_fonts, pdf_pages, pdf_text


@pytest.fixture(scope="module")
def db_2019(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    db = new_db(tmp_path_factory.mktemp("report-pdf") / "campaigns.db")
    seed_2019(db)
    yield db
    db.engine.dispose()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pdf_embeds_its_fonts_and_reads_as_the_narrative(
    db_2019: Db, lang: str, tmp_path: Path
) -> None:
    report: YearReport = section_7(db_2019, lang)
    pdf = write_report(report, "pdf")
    assert pdf.startswith(b"%PDF-")
    rows = pdf_fonts(pdf, tmp_path)
    # Only the two Noto fonts of the pylopdf-fonts-zh-cn wheel, as CID fonts.
    assert all("NotoSerifSC" in row or "NotoSansSC" in row for row in rows), rows
    text = flat(pdf_text(pdf))
    assert text.startswith(narrative(report)), text[:400]
    assert pdf_pages(pdf) == (3 if lang == "zh" else 4)


def test_pdf_of_an_empty_year_says_so(db_2019: Db) -> None:
    report = db_2019.build(2040)
    pdf = write_report(report, "pdf")
    assert "2040年度未登记宣传活动。" in flat(pdf_text(pdf))
    assert pdf_pages(pdf) == 2
