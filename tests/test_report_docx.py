"""The year's report as a GB/T 9704 .docx, read back: page and margins, the fonts of every
style and run (East-Asian slot included), sizes, the page-number fields of odd and even pages,
the text; then converted by LibreOffice headless to PDF and PNG (pdftoppm): page count, the
text extracted equals the narrative, every font embedded (pdffonts)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Length, Pt

from campaigns.reports import gbt9704
from campaigns.reports.render import write_report
from campaigns.reports.section import YearReport
from tests.test_report import Db, new_db, section_7, seed_2019

# Where LibreOffice finds no 公文 font it substitutes through fontconfig: these map the named
# fonts to the Noto CJK fonts of Debian's fonts-noto-cjk (serif body, sans 黑体).
FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
{aliases}
</fontconfig>
"""
_ALIAS = (
    '  <match target="pattern"><test name="family"><string>{name}</string></test>'
    '<edit name="family" mode="assign" binding="strong"><string>{to}</string></edit>{extra}'
    "</match>"
)
SUBSTITUTES = {
    "仿宋_GB2312": ("Noto Serif CJK SC", ""),
    "宋体": ("Noto Serif CJK SC", ""),
    "楷体_GB2312": ("Noto Serif CJK SC", ""),
    "方正小标宋简体": (
        "Noto Serif CJK SC",
        '<edit name="weight" mode="assign"><const>bold</const></edit>',
    ),
    "黑体": ("Noto Sans CJK SC", ""),
}
PAGE_NUMBER_LINE = re.compile(r"^\s*—\s*\d+\s*—\s*$")


def need(tool: str) -> str:
    """A tool of Debian's packages (.ci/run installs them); missing in CI is a failure."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (.ci/run installs it)")
        pytest.skip(
            f"{tool} is not installed (apt-get install libreoffice-writer-nogui poppler-utils)"
        )
    return path


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdf_text(pdf: bytes, tmp: Path | None = None) -> str:
    """pdftotext of the PDF, without the page-number lines."""
    need("pdftotext")
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    return "\n".join(line for line in lines if not PAGE_NUMBER_LINE.match(line))


def pdf_pages(pdf: bytes) -> int:
    need("pdfinfo")
    result = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, timeout=60)
    match = re.search(rb"^Pages:\s+(\d+)", result.stdout, re.M)
    assert match, result.stdout
    return int(match.group(1))


def pdf_fonts(pdf: bytes, tmp: Path) -> list[str]:
    """pdffonts' rows; each must be embedded and none Type 3."""
    need("pdffonts")
    path = tmp / "fonts.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[2:]
    assert rows, result.stdout
    for row in rows:
        assert "Type 3" not in row, row
        emb, _subset, uni = row.split()[-5:-2]
        # Embedded, and mapped to Unicode (the text can be extracted).
        assert emb == "yes" and uni == "yes", row
    return rows


def narrative(report: YearReport) -> str:
    """What the document says before its table, in reading order."""
    return flat(
        "".join(
            [
                *gbt9704.title_lines(report),
                report.heading,
                *report.body,
                report.attachment_note,
                report.signature,
                report.dated_text,
                report.attachment_label,
                report.attachment_name,
            ]
        )
    )


def libreoffice_pdf(document: bytes, tmp: Path) -> bytes:
    soffice = need("soffice")
    source = tmp / "report.docx"
    source.write_bytes(document)
    conf = tmp / "fonts.conf"
    aliases = "\n".join(
        _ALIAS.format(name=name, to=to, extra=extra) for name, (to, extra) in SUBSTITUTES.items()
    )
    conf.write_text(FONTS_CONF.format(aliases=aliases))
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={(tmp / 'lo-profile').as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FONTCONFIG_FILE": str(conf)},
    )
    target = tmp / "report.pdf"
    assert result.returncode == 0 and target.exists(), result.stdout + result.stderr
    return target.read_bytes()


@pytest.fixture(scope="module")
def db_2019(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    db = new_db(tmp_path_factory.mktemp("report-docx") / "campaigns.db")
    seed_2019(db)
    yield db
    db.engine.dispose()


@pytest.fixture(scope="module")
def report(db_2019: Db) -> YearReport:
    return section_7(db_2019)


@pytest.fixture(scope="module")
def document_bytes(report: YearReport) -> bytes:
    return write_report(report, "docx")


@pytest.fixture(scope="module")
def document(document_bytes: bytes) -> Any:
    return docx.Document(io.BytesIO(document_bytes))


def _runs(document: Any) -> Iterator[tuple[str, Any]]:
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            yield paragraph.style.name, run
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    for run in paragraph.runs:
                        yield "table", run
    section = document.sections[0]
    for footer in (section.footer, section.even_page_footer):
        for paragraph in footer.paragraphs:
            for run in paragraph.runs:
                yield "footer", run


def test_page_size_margins_and_grid(document: Any) -> None:
    section = document.sections[0]
    assert round(section.page_width.mm) == 210 and round(section.page_height.mm) == 297
    assert [round(m.mm, 1) for m in (section.top_margin, section.bottom_margin)] == [37.0, 35.0]
    assert [round(m.mm, 1) for m in (section.left_margin, section.right_margin)] == [28.0, 26.0]
    text_width = Length(section.page_width - section.left_margin - section.right_margin)
    text_height = Length(section.page_height - section.top_margin - section.bottom_margin)
    assert round(text_width.mm) == 156 and round(text_height.mm) == 225
    grid = section._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:linePitch")) == "579"  # 28.95 pt
    # 22 lines of 28.95 pt fill the 225 mm; 28 characters of 3号 condensed 0.25 pt fill 156 mm.
    assert 22 * 28.95 <= text_height.pt < 23 * 28.95
    pitch = 16 + gbt9704.BODY_SPACING_TWIPS / 20
    assert 28 * pitch <= text_width.pt < 29 * pitch


def test_every_style_and_run_names_its_east_asian_font(
    document: Any, document_bytes: bytes
) -> None:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(document_bytes)) as z:
        styles_xml = z.read("word/styles.xml").decode()
        document_xml = z.read("word/document.xml").decode()
        settings_xml = z.read("word/settings.xml").decode()
    for attribute in ("asciiTheme", "eastAsiaTheme", "hAnsiTheme", "cstheme"):
        assert attribute not in styles_xml and attribute not in document_xml
    assert 'w:eastAsia="ja-JP"' not in settings_xml
    assert re.search(r'<w:themeFontLang w:val="en-US" w:eastAsia="zh-CN"', settings_xml)
    assert "<w:evenAndOddHeaders" in settings_xml
    styles = document.styles.element
    defaults = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    assert defaults.find(qn("w:rFonts")).get(qn("w:eastAsia")) == "仿宋_GB2312"
    assert defaults.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-CN"
    for fonts in styles.iter(qn("w:rFonts")):
        assert fonts.get(qn("w:eastAsia")), fonts.getparent().getparent().get(qn("w:styleId"))
    expected = {
        "GB Title": ("方正小标宋简体", 22.0),
        "GB Heading 1": ("黑体", 16.0),
        "Normal": ("仿宋_GB2312", 16.0),
        "GB Signature": ("仿宋_GB2312", 16.0),
        "GB Attachment": ("黑体", 16.0),
        "footer": ("宋体", 14.0),
    }
    seen = set()
    for where, run in _runs(document):
        rpr = run._r.rPr
        fonts = rpr.find(qn("w:rFonts"))
        for slot in ("ascii", "hAnsi", "eastAsia", "cs"):
            assert fonts.get(qn(f"w:{slot}")), (where, run.text, slot)
        assert rpr.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-CN"
        east_asia = fonts.get(qn("w:eastAsia"))
        if where in expected:
            assert (east_asia, run.font.size.pt) == expected[where], (where, run.text)
        elif where == "table":
            assert east_asia in ("仿宋_GB2312", "黑体") and run.font.size.pt == 12.0
        seen.add(where)
    assert set(expected) <= seen | {"GB Heading 1"}
    # The style itself carries the font too, for text a clerk types into the document.
    title = document.styles["GB Title"]
    assert title.element.rPr.find(qn("w:rFonts")).get(qn("w:eastAsia")) == "方正小标宋简体"
    assert title.paragraph_format.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert (
        document.styles["GB Heading 2"].element.rPr.find(qn("w:rFonts")).get(qn("w:eastAsia"))
        == "楷体_GB2312"
    )


def test_body_layout_and_text(document: Any, report: YearReport) -> None:
    paragraphs = document.paragraphs
    texts = [p.text for p in paragraphs]
    assert texts[0] == report.title_lines[0] + "\n" + report.title_lines[1]
    assert texts[1] == "" and texts[2] == report.heading
    assert paragraphs[2].style.name == "GB Heading 1"
    body = texts[3 : 3 + len(report.body)]
    assert body == list(report.body)
    normal = document.styles["Normal"].paragraph_format
    assert normal.first_line_indent == Pt(32)  # two characters of 3号
    assert normal.line_spacing_rule == WD_LINE_SPACING.EXACTLY
    assert normal.line_spacing == Pt(28.95)
    assert normal.alignment == WD_ALIGN_PARAGRAPH.JUSTIFY
    ind = document.styles["Normal"].element.pPr.find(qn("w:ind"))
    assert ind.get(qn("w:firstLineChars")) == "200"
    rest = texts[3 + len(report.body) :]
    assert rest[:6] == ["", report.attachment_note, "", "鹤壁市科学技术局", "2020年2月11日", "附件"]
    assert rest[7] == report.attachment_name
    signature, dated = paragraphs[3 + len(report.body) + 3 : 3 + len(report.body) + 5]
    assert signature.style.name == dated.style.name == "GB Signature"
    assert document.styles["GB Signature"].paragraph_format.alignment == WD_ALIGN_PARAGRAPH.RIGHT
    # 署名 two characters from the right; the date's first character two right of the signature's.
    sig_indent = signature.paragraph_format.right_indent.pt
    date_indent = dated.paragraph_format.right_indent.pt
    sig_start = sig_indent + 8 * 16
    date_start = date_indent + (2 + 1 + 0.5 + 1 + 1 + 1) * 16  # 2020年2月11日
    assert sig_start - date_start == pytest.approx(32)
    assert re.fullmatch(r"[1-9]\d{3}年[1-9]\d?月[1-9]\d?日", dated.text)
    label = paragraphs[3 + len(report.body) + 5]
    assert label.paragraph_format.page_break_before
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == list(report.appendix_headers)
    assert table.rows[1].cells[1].text == "2019年鹤壁市科技活动周（终稿第1版）"
    assert {table.rows[i].cells[4].text for i in range(1, 9)} >= {"12场", "10240份", "10.3万元"}


def test_page_numbers_odd_right_even_left(document: Any) -> None:
    section = document.sections[0]
    assert document.settings.odd_and_even_pages_header_footer
    for footer, alignment, side in (
        (section.footer, WD_ALIGN_PARAGRAPH.RIGHT, "right_indent"),
        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT, "left_indent"),
    ):
        paragraph = footer.paragraphs[0]
        assert paragraph.alignment == alignment
        assert getattr(paragraph.paragraph_format, side) == Pt(14)  # 空一字
        xml = paragraph._p.xml
        kinds = re.findall(r'w:fldCharType="(\w+)"', xml)
        assert kinds == ["begin", "separate", "end"]
        assert re.search(r"<w:instrText[^>]*> PAGE </w:instrText>", xml)
        assert paragraph.text == "— 1 —"
    assert round(section.footer_distance.mm) == 23  # the number's rule 7 mm under the 版心


def test_english_document_keeps_the_layout(db_2019: Db) -> None:
    english = docx.Document(io.BytesIO(write_report(section_7(db_2019, "en"), "docx")))
    run = english.paragraphs[3].runs[0]
    fonts = run._r.rPr.find(qn("w:rFonts"))
    assert fonts.get(qn("w:eastAsia")) == "仿宋_GB2312"
    assert fonts.get(qn("w:ascii")) == "Times New Roman"
    assert english.paragraphs[3].text.startswith("In 2019 the bureau held 4 publicity campaigns")


def test_libreoffice_converts_it_to_pdf_and_png(
    document_bytes: bytes, report: YearReport, tmp_path: Path
) -> None:
    pdf = libreoffice_pdf(document_bytes, tmp_path)
    # Title, heading and the four paragraphs fill page 1 and part of 2; the table is page 3.
    assert pdf_pages(pdf) == 3
    text = flat(pdf_text(pdf))
    assert text.startswith(narrative(report)), text[:400]
    assert "10240份" in text and "10.3万元" in text
    rows = pdf_fonts(pdf, tmp_path)
    assert any("NotoSerifCJK" in row for row in rows), rows
    need("pdftoppm")
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "50",
            "-f",
            "1",
            "-l",
            "1",
            str(tmp_path / "report.pdf"),
            str(tmp_path / "page"),
        ],
        check=True,
        timeout=120,
    )
    from PIL import Image

    with Image.open(tmp_path / "page-1.png") as image:
        width, height = image.size
        assert abs(height / width - 297 / 210) < 0.01
        # Not a blank page: the title and body are there.
        assert image.convert("L").getextrema()[0] < 64
