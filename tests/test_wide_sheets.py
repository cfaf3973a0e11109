"""Wide 统计表 sheets as counties send them: one row per activity, one column per metric,
titles, 填报单位 lines, 合计 rows and footers; written by openpyxl and by LibreOffice (.xlsx,
.xls, .ods), read by calamine; imported through the real CLI and a real worker."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from campaigns.planning.metrics import BUILTIN_CATALOGUE, BUILTIN_METRICS, Metric, MetricCatalogue
from campaigns.tallies.sheets.import_errors import ImportFileError
from campaigns.tallies.sheets.metric_headers import HeaderCellError, MetricHeaders
from campaigns.tallies.sheets.reader import ImportReport, read_tally_file
from campaigns.tallies.sheets.rejects import write_rejects
from tests.conftest import Env

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAMPAIGN = "2019-national-security-day"  # 2019-04-15 to 2019-04-22, Asia/Shanghai
WINDOW = (datetime(2019, 4, 14, 16, tzinfo=UTC), datetime(2019, 4, 22, 16, tzinfo=UTC))

TITLE = "2019年全民国家安全教育日宣传活动情况统计表"
HEADER: list[object] = [
    "序号",
    "活动日期",
    "活动地点",
    "活动形式",
    "发放宣传资料（份）",
    "展出展板（块）",
    "接受咨询（人次）",
    "参与人次",
    "经费（万元）",
    "备注",
]
ACTIVITIES: list[list[object]] = [
    [1, date(2019, 4, 15), "新世纪广场", "广场宣传", 3000, 12, 150, 800, 1.25, "上午"],
    [2, date(2019, 4, 16), "城关镇社区", "进社区", 500, "-", 0, 200, None, None],
    [3, "2019-04-17", "县一中", "进校园", "1,200", None, "—", 600, "/", None],
    [4, date(2019, 4, 18), "县政务中心", "咨询", None, 6, 95, 300, 0.3, "下午"],
]
# What the activities count, in stored units (经费 in 元).
TOTALS = {
    "materials": 4700,
    "boards": 18,
    "consultations": 245,
    "attendance": 1900,
    "funding": 15500,
}
SUM_ROW: list[object] = ["合计", None, None, None, 4700, 18, 245, 1900, 1.55, None]
FOOTER: list[object] = ["填表人：王五", None, "审核人：赵六", None, None, "联系电话：0392-5512345"]


def county_rows(
    activities: Sequence[Sequence[object]] = ACTIVITIES,
    total: Sequence[object] | None = SUM_ROW,
    unit: str = "浚县司法局",
) -> list[list[object]]:
    rows: list[list[object]] = [
        [TITLE],
        [f"填报单位：{unit}（盖章）", None, None, None, None, "填报日期：2019年4月23日"],
        HEADER,
        *map(list, activities),
        [],
    ]
    if total is not None:
        rows.append(list(total))
    rows.append(FOOTER)
    return rows


def write_workbook(
    path: Path, sheets: Mapping[str, Sequence[Sequence[object]]], *, merge: bool = True
) -> Path:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
        if merge and rows and list(rows[0]) == [TITLE]:
            sheet.merge_cells("A1:J1")  # the title across the table
    workbook.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[object]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        csv.writer(out).writerows([["" if cell is None else cell for cell in row] for row in rows])
    return path


def read(path: Path, catalogue: MetricCatalogue = BUILTIN_CATALOGUE) -> ImportReport:
    return read_tally_file(
        path, campaign_id=CAMPAIGN, catalogue=catalogue, timezone=SHANGHAI, window=WINDOW
    )


def totals(report: ImportReport) -> dict[str, int]:
    found: dict[str, int] = {}
    for metric, quantity in zip(report.accepted.metric, report.accepted.quantity, strict=True):
        found[metric] = found.get(metric, 0) + quantity
    return found


# --- header cells -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "metric", "scale"),
    [
        ("发放宣传资料（份）", "materials", 1),
        ("宣传资料(份)", "materials", 1),
        ("资料份数", "materials", 1),
        ("宣传册（册）", "materials", 1),
        ("宣传资料（单位：页）", "materials", 1),
        ("法治宣传资料（份）", "materials", 1),
        ("发放宣传资料\n（份）", "materials", 1),
        ("展板", "boards", 1),
        ("展出展板（块）", "boards", 1),
        ("展板块数", "boards", 1),
        ("咨询人次", "consultations", 1),
        ("接受咨询（人次）", "consultations", 1),
        ("法律咨询服务（次）", "consultations", 1),
        ("参与人数", "attendance", 1),
        ("参加人次", "attendance", 1),
        ("参与人次", "attendance", 1),
        ("举办讲座（场）", "lectures", 1),
        ("普法讲座（场）", "lectures", 1),
        ("培训人数", "trainees", 1),
        ("经费（万元）", "funding", 10_000),
        ("投入经费(元)", "funding", 1),
        ("materials", "materials", 1),
    ],
)
def test_a_header_names_its_metric_with_or_without_verb_and_unit(
    header: str, metric: str, scale: int
) -> None:
    found = MetricHeaders(BUILTIN_CATALOGUE).read(header)
    assert found is not None
    assert (found.metric.id, found.scale) == (metric, scale)


@pytest.mark.parametrize(
    "header",
    ["序号", "活动日期", "活动地点", "活动形式", "备注", "讲座主题", "培训日期", "培训天数", TITLE],
)
def test_headers_that_name_no_metric(header: str) -> None:
    assert MetricHeaders(BUILTIN_CATALOGUE).read(header) is None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (
            "宣传资料及展板（份）",
            "header '宣传资料及展板（份）' names more than one metric: 宣传资料 (materials)"
            " and 展板 (boards)",
        ),
        ("展板（份）", "header '展板（份）': unit 份 is not the unit of 展板 (块/个/幅/张)"),
        ("经费（人次）", "header '经费（人次）': unit 人次 is not the unit of 经费 (元; 万元"),
    ],
)
def test_a_header_naming_two_metrics_or_a_wrong_unit_is_an_error(header: str, reason: str) -> None:
    with pytest.raises(HeaderCellError) as caught:
        MetricHeaders(BUILTIN_CATALOGUE).read(header)
    assert caught.value.reason.startswith(reason)


def test_custom_metrics_are_named_by_their_name_and_aliases_stay_unique() -> None:
    custom = Metric("mediations", "人民调解", "mediations", "件", "cases")
    catalogue = MetricCatalogue([custom])
    found = MetricHeaders(catalogue).read("开展人民调解（件）")
    assert found is not None and found.metric.id == "mediations"
    assert catalogue.resolve("人民调解").id == "mediations"
    assert catalogue.resolve("资料").id == "materials"  # aliases work in the long layout too
    names = [name for metric in BUILTIN_METRICS for name in (metric.id, *metric.names)]
    assert len(names) == len(set(names)), "an alias names two built-in metrics"


# --- one sheet, as a county sends it ----------------------------------------------------------


def test_an_openpyxl_county_sheet_imports_exactly(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "浚县.xlsx", {"浚县": county_rows()})

    report = read(path)

    assert report.errors == report.mismatches == []
    assert totals(report) == TOTALS
    (sheet,) = report.sheets
    assert (sheet.name, sheet.layout, sheet.header_row, sheet.rows, sheet.tallies) == (
        "浚县",
        "wide",
        3,
        4,
        13,
    )
    assert (sheet.unit_text, sheet.unit_from) == ("浚县司法局", "填报单位")
    assert report.skipped == [] and report.warnings == []
    first = [tally for tally in report.rows if tally.row == 4]
    assert [(t.metric, t.quantity) for t in first] == [
        ("materials", 3000),
        ("boards", 12),
        ("consultations", 150),
        ("attendance", 800),
        ("funding", 12_500),  # 1.25 万元
    ]
    assert {(t.venue, t.item, t.note) for t in first} == {("新世纪广场", "广场宣传", "上午")}
    assert {t.occurred_at for t in first} == {datetime(2019, 4, 14, 16, tzinfo=UTC)}
    # One key per cell; the same file read again gives the same keys.
    keys = [tally.key for tally in report.rows]
    assert len(set(keys)) == len(keys) == 13
    assert keys == [tally.key for tally in read(path).rows]


def test_the_same_sheet_as_csv_gives_the_same_tallies(tmp_path: Path) -> None:
    rows = county_rows()
    as_text = [[c.isoformat() if isinstance(c, date) else c for c in row] for row in rows]
    from_xlsx = read(write_workbook(tmp_path / "a.xlsx", {"Sheet1": rows}))
    for encoding in ("utf-8-sig", "gb18030"):
        from_csv = read(write_csv(tmp_path / f"{encoding}.csv", as_text, encoding))
        assert from_csv.errors == [] and from_csv.mismatches == []
        assert from_csv.rows == from_xlsx.rows
        assert from_csv.sheets[0].unit_text == "浚县司法局"


def test_empty_dash_and_zero_cells_count_nothing_and_are_no_error(tmp_path: Path) -> None:
    activity = [1, date(2019, 4, 15), "广场", "", "0", "-", "—", "/", "", ""]
    rows = county_rows([activity, [2, date(2019, 4, 15), "广场", "", 0, "－", "", 5, 0, ""]], None)

    report = read(write_workbook(tmp_path / "t.xlsx", {"s": rows}))

    assert report.errors == []
    assert [(t.row, t.metric, t.quantity) for t in report.rows] == [(5, "attendance", 5)]
    assert report.total_rows == 2


@pytest.mark.parametrize(
    ("cell", "column", "reason"),
    [
        ("很多", "发放宣传资料（份）", "not a whole number: '很多'"),
        ("-3", "发放宣传资料（份）", "must not be negative: '-3'"),
        (2.5, "发放宣传资料（份）", "not a whole number: '2.5'"),
        (True, "发放宣传资料（份）", "not a whole number: 'TRUE'"),
    ],
)
def test_a_bad_number_cell_names_file_sheet_row_and_column(
    tmp_path: Path, cell: object, column: str, reason: str
) -> None:
    bad = [5, date(2019, 4, 19), "广场", "", cell, 1, None, None, None, None]
    path = write_workbook(tmp_path / "t.xlsx", {"浚县": county_rows([*ACTIVITIES, bad], None)})

    report = read(path)

    (error,) = report.errors
    assert str(error) == f"t.xlsx [浚县]: row 8, column {column}: {reason}"
    assert report.bad_rows == 1
    assert 8 not in report.accepted.row  # none of the row's cells counts


def test_money_in_wan_yuan_is_multiplied_exactly(tmp_path: Path) -> None:
    header: list[object] = ["活动日期", "活动地点", "经费（万元）"]
    cells: list[object] = [0.0001, "1.2345", 0.1 + 0.2, "12,000.5", 1.00001]
    rows = [header, *([date(2019, 4, 15), f"点{n}", c] for n, c in enumerate(cells))]

    report = read(write_workbook(tmp_path / "t.xlsx", {"s": rows}))

    assert [t.quantity for t in report.rows] == [1, 12_345, 3_000, 120_005_000]
    (error,) = report.errors
    assert (error.row, error.column) == (6, "经费（万元）")
    assert error.reason == "not a whole number of 元: '1.00001' 万元 is 10000.1 元"
    assert Decimal("1.00001") * 10_000 == Decimal("10000.1")


def test_dates_outside_the_campaign_are_errors_of_the_date_column(tmp_path: Path) -> None:
    late = [5, date(2019, 4, 23), "广场", "", 10, None, None, None, None, None]
    report = read(write_workbook(tmp_path / "t.xlsx", {"浚县": county_rows([late], None)}))
    assert [str(e) for e in report.errors] == [
        "t.xlsx [浚县]: row 4, column 活动日期: outside the campaign (2019-04-15 – 2019-04-22)"
    ]


def test_unknown_columns_are_kept_in_the_note_and_said_once(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["序号", "活动名称", "活动日期", "宣传资料（份）", "悬挂横幅（条）", "备注"],
        [1, "宪法进万家", date(2019, 4, 15), 100, 3, "雨天"],
        [2, "宪法进校园", date(2019, 4, 16), 50, None, None],
    ]
    report = read(write_workbook(tmp_path / "t.xlsx", {"s": rows}))
    assert [t.note for t in report.rows] == [
        "活动名称：宪法进万家；悬挂横幅（条）：3；雨天",
        "活动名称：宪法进校园",
    ]
    assert report.warnings == [
        "t.xlsx [s]: column B '活动名称' names no metric: its cells are kept in each row's note",
        "t.xlsx [s]: column E '悬挂横幅（条）' names no metric: its cells are kept in each"
        " row's note",
    ]


# --- 合计 and 小计 -----------------------------------------------------------------------------


def test_a_total_that_disagrees_is_a_mismatch_with_both_numbers(tmp_path: Path) -> None:
    wrong = [*SUM_ROW]
    wrong[4], wrong[8] = 4800, 1.5
    report = read(write_workbook(tmp_path / "t.xlsx", {"浚县": county_rows(total=wrong)}))

    assert report.errors == []
    assert [str(m) for m in report.mismatches] == [
        "t.xlsx [浚县]: row 9, column 发放宣传资料（份）: 合计 4,800 but the rows above add up"
        " to 4,700",
        "t.xlsx [浚县]: row 9, column 经费（万元）: 合计 1.5 but the rows above add up to 1.55",
    ]
    assert totals(report) == TOTALS  # the rows, never the 合计 row


def test_subtotals_are_checked_per_group_and_never_counted(tmp_path: Path) -> None:
    first, second = ACTIVITIES[:2], ACTIVITIES[2:]
    rows: list[list[object]] = [
        HEADER,
        *first,
        ["城关镇小计", None, None, None, 3500, 12, 150, 1000, 1.25, None],
        *second,
        ["小 计", None, None, None, 1200, 6, 95, 900, 0.3, None],
        SUM_ROW,
        ["总计", None, None, None, 4700, 18, 245, 1900, 1.55, None],
    ]
    report = read(write_workbook(tmp_path / "t.xlsx", {"s": rows}))
    assert report.errors == report.mismatches == []
    assert totals(report) == TOTALS

    rows[3] = ["城关镇小计", None, None, None, 3000, 12, 150, 1000, 1.25, None]
    (mismatch,) = read(write_workbook(tmp_path / "u.xlsx", {"s": rows})).mismatches
    assert str(mismatch) == (
        "u.xlsx [s]: row 4, column 发放宣传资料（份）: 小计 3,000 but the rows since the last"
        " total add up to 3,500"
    )


def test_a_total_formula_without_its_value_is_not_checked_and_said(tmp_path: Path) -> None:
    formulas = ["合计", None, None, None, "=SUM(E4:E7)", "=SUM(F4:F7)", 245, 1900, None, None]
    report = read(write_workbook(tmp_path / "t.xlsx", {"s": county_rows(total=formulas)}))
    assert report.mismatches == []
    assert report.warnings == [
        "t.xlsx [s]: row 9: 合计 has no value in '发放宣传资料（份）', '展出展板（块）',"
        " '经费（万元）' (a formula saved without its result?): not checked"
    ]
    assert totals(report) == TOTALS


# --- workbooks of several sheets --------------------------------------------------------------


def test_every_sheet_with_a_table_is_imported_and_the_others_listed(tmp_path: Path) -> None:
    workbook = Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "填表说明"
    notes.append(["每次活动填一行。"])
    for name, unit in (("浚县", "浚县司法局"), ("淇县", "淇县司法局")):
        sheet = workbook.create_sheet(name)
        for row in county_rows(unit=unit):
            sheet.append(row)
    hidden = workbook.create_sheet("旧表")
    for row in county_rows():
        hidden.append(row)
    hidden.sheet_state = "hidden"
    workbook.create_sheet("空白")
    path = tmp_path / "鹤壁市.xlsx"
    workbook.save(path)

    report = read(path)

    assert [(s.name, s.unit_text, s.tallies) for s in report.sheets] == [
        ("浚县", "浚县司法局", 13),
        ("淇县", "淇县司法局", 13),
    ]
    assert [(s.name, s.why) for s in report.skipped] == [
        ("填表说明", "no tally table"),
        ("旧表", "hidden"),
        ("空白", "empty"),
    ]
    assert totals(report) == {metric: 2 * total for metric, total in TOTALS.items()}
    # The same rows on two sheets are two sets of tallies.
    assert len(set(report.accepted.keys())) == 26


def test_errors_name_their_sheet_and_rejects_go_per_sheet(tmp_path: Path) -> None:
    bad = [5, date(2019, 4, 19), "广场", "", "许多", None, None, None, None, None]
    path = write_workbook(
        tmp_path / "市.xlsx",
        {"浚县": county_rows([*ACTIVITIES, bad], None), "淇县": county_rows([bad], None)},
    )
    report = read(path)
    assert [str(e) for e in report.errors] == [
        "市.xlsx [浚县]: row 8, column 发放宣传资料（份）: not a whole number: '许多'",
        "市.xlsx [淇县]: row 4, column 发放宣传资料（份）: not a whole number: '许多'",
    ]
    targets = write_rejects(report, path)
    assert [t.name for t in targets] == ["市.浚县.rejects.csv", "市.淇县.rejects.csv"]
    with targets[1].open(encoding="utf-8-sig", newline="") as file:
        rejected = list(csv.reader(file))
    assert rejected[0] == [*HEADER, "error"]
    assert rejected[1][4:6] == ["许多", ""]
    assert rejected[1][-1] == "发放宣传资料（份）: not a whole number: '许多'"


def test_a_unit_column_gives_each_row_its_unit_and_an_unknown_one_names_its_cell(
    tmp_path: Path,
) -> None:
    from campaigns.planning.unit_directory import Unit, UnitDirectory
    from campaigns.tallies.row_units import resolve_row_units

    def with_unit(rows: list[list[object]], units: Sequence[str]) -> list[list[object]]:
        header = rows.index(HEADER)
        unit_cells = iter(units)
        return [
            [*row[:4], "填报单位" if n == header else next(unit_cells), *row[4:]]
            if header <= n <= header + len(ACTIVITIES)
            else row
            for n, row in enumerate(rows)
        ]

    no_total = county_rows(total=None)
    path = write_workbook(
        tmp_path / "市.xlsx",
        {
            "浚县": with_unit(no_total, ["浚县", "浚县", "某县", "浚县"]),
            "淇县": with_unit(no_total, ["410622"] * 4),
        },
    )
    report = read(path)
    assert report.errors == [] and len(report.accepted) == 26
    directory = UnitDirectory([Unit("410621", "浚县"), Unit("410622", "淇县")])

    found = resolve_row_units(report.accepted, directory, file=path.name)

    assert [str(error) for error in found.errors] == [
        "市.xlsx [浚县]: row 6, column 填报单位: unknown reporting unit '某县'"
        " (see `campaigns units list`)"
    ]
    # The row's two tallies are left out; the others carry their unit's code.
    assert found.codes == ["410621", "410622"]
    accepted = report.accepted
    assert accepted.units() == ["410621"] * 11 + ["410622"] * 13
    assert accepted.unit_cell(11) == ("淇县", "填报单位")
    assert len(set(accepted.keys())) == 24


def test_a_workbook_without_a_table_says_so(tmp_path: Path) -> None:
    one = write_workbook(tmp_path / "one.xlsx", {"说明": [["本表无数据"], ["x", "y"]]})
    with pytest.raises(ImportFileError, match=r"^one\.xlsx \[说明\]: no header row"):
        read(one)
    two = write_workbook(tmp_path / "two.xlsx", {"a": [["x"]], "b": [HEADER]})
    with pytest.raises(ImportFileError) as caught:
        read(two)
    assert str(caught.value) == (
        "two.xlsx: no sheet holds a tally table (a: no tally table; b: no rows below the"
        " header (row 1))"
    )


def test_a_header_matching_two_metrics_names_the_cell(tmp_path: Path) -> None:
    rows = county_rows()
    rows[2] = [*HEADER[:5], "宣传资料及展板（份）", *HEADER[6:]]
    with pytest.raises(ImportFileError) as caught:
        read(write_workbook(tmp_path / "t.xlsx", {"浚县": rows}))
    assert str(caught.value) == (
        "t.xlsx [浚县]: row 3, column F: header '宣传资料及展板（份）' names more than one"
        " metric: 宣传资料 (materials) and 展板 (boards)"
    )


def test_a_table_starting_at_column_c_names_columns_by_their_letters(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["C3"] = TITLE
    for offset, text in enumerate(["活动地点", "展板（份）"]):
        sheet.cell(row=5, column=3 + offset, value=text)
    path = tmp_path / "t.xlsx"
    workbook.save(path)
    with pytest.raises(ImportFileError, match=r"^t\.xlsx \[Sheet\]: row 5, column D: header"):
        read(path)


def test_the_long_layout_keeps_its_keys_on_the_first_sheet(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["指标", "数量", "地点"],
        ["宣传资料", 300, "广场"],
        ["展板", 2, ""],
    ]
    from_csv = read(write_csv(tmp_path / "t.csv", rows))
    from_xlsx = read(write_workbook(tmp_path / "t.xlsx", {"一": rows, "二": rows}))
    assert from_xlsx.rows[:2] == from_csv.rows
    assert {t.key for t in from_xlsx.rows[2:]}.isdisjoint(t.key for t in from_csv.rows)
    assert [s.layout for s in from_xlsx.sheets] == ["long", "long"]


# --- LibreOffice: .xlsx, .xls and .ods ---------------------------------------------------------


def libreoffice(source: Path, target: str, outdir: Path) -> Path:
    """`soffice --headless --convert-to TARGET` of `source`, in a profile of its own."""
    executable = shutil.which("soffice")
    if executable is None:
        pytest.skip("soffice (libreoffice-calc-nogui) is not installed")
    outdir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            executable,
            f"-env:UserInstallation={(outdir / 'lo-profile').as_uri()}",
            "--headless",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HOME": str(outdir)},
    )
    converted = outdir / f"{source.stem}.{target}"
    if not converted.exists() and "calc" in (result.stdout + result.stderr).lower():
        pytest.skip(f"soffice cannot convert spreadsheets: {result.stderr.strip()}")
    assert result.returncode == 0 and converted.exists(), result.stdout + result.stderr
    return converted


def formula_sheet(activities: Sequence[Sequence[object]] = ACTIVITIES) -> list[list[object]]:
    """The county sheet with its 合计 row as SUM formulas (rows 4–8), as templates have it,
    and its numbers as numbers (a spreadsheet's SUM leaves out "1,200", which is text)."""
    numbers = [[1200 if cell == "1,200" else cell for cell in row] for row in activities]
    sums = ["合计", None, None, None, *(f"=SUM({c}4:{c}8)" for c in "EFGHI"), None]
    return county_rows(numbers, total=sums)


@pytest.fixture(scope="module")
def saved_by_libreoffice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sheet (formulas in 合计) written by openpyxl, then saved by LibreOffice in each
    format: LibreOffice calculates the formulas and stores their values."""
    folder = tmp_path_factory.mktemp("libreoffice")
    source = write_workbook(folder / "浚县.xlsx", {"浚县": formula_sheet()})
    text_number = write_workbook(
        folder / "文本.xlsx", {"浚县": county_rows(total=formula_sheet()[-2])}
    )
    return {fmt: libreoffice(source, fmt, folder / fmt) for fmt in ("xlsx", "xls", "ods")} | {
        "openpyxl": source,
        "text number": libreoffice(text_number, "xlsx", folder / "text"),
    }


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "ods"])
def test_sheets_saved_by_libreoffice_import_exactly_and_totals_are_checked(
    saved_by_libreoffice: dict[str, Path], fmt: str
) -> None:
    from_openpyxl = read(saved_by_libreoffice["openpyxl"])
    report = read(saved_by_libreoffice[fmt])

    assert report.errors == report.mismatches == []
    # LibreOffice stored the 合计 values, so they were checked: nothing left unchecked.
    assert report.warnings == []
    assert from_openpyxl.warnings  # openpyxl stored none
    assert totals(report) == TOTALS
    assert report.rows == from_openpyxl.rows  # the same tallies, keys included
    (sheet,) = report.sheets
    assert (sheet.name, sheet.unit_text, sheet.header_row) == ("浚县", "浚县司法局", 3)


def test_a_number_written_as_text_is_left_out_of_the_sheets_sum_and_said(
    saved_by_libreoffice: dict[str, Path],
) -> None:
    """A "1,200" written as text counts (a CSV has only text); LibreOffice's SUM skips it."""
    report = read(saved_by_libreoffice["text number"])
    assert totals(report) == TOTALS
    assert [str(m) for m in report.mismatches] == [
        "文本.xlsx [浚县]: row 9, column 发放宣传资料（份）: 合计 3,500 but the rows above add up"
        " to 4,700 (1,200 of them in cells holding text, which the sheet's own SUM leaves out:"
        " make them numbers)"
    ]


# --- through the CLI, a real database and a real worker ---------------------------------------


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


def _totals(env: Env) -> dict[str, int]:
    figures = json.loads(env.ok("summary", CAMPAIGN, "--format", "json"))
    return {metric: v["total"] for metric, v in figures["metrics"].items() if v["total"]}


def _tallies(env: Env) -> int:
    from sqlalchemy import func, select

    from campaigns.models import Tally

    with env.session() as session:
        return int(session.execute(select(func.count()).select_from(Tally)).scalar_one())


def test_wide_workbooks_in_every_format_import_once_through_the_cli(
    worker_env: Env, saved_by_libreoffice: dict[str, Path], tmp_path: Path
) -> None:
    env = worker_env
    _create(env)
    first = env.ok("import", CAMPAIGN, str(saved_by_libreoffice["ods"]), "--wait")
    said = "浚县.ods [浚县]: wide table, header row 3, 4 rows, 13 tallies; 填报单位: 浚县司法局"
    assert said in first
    assert "浚县.ods: 13 new, 0 already counted" in first
    assert _totals(env) == TOTALS
    # The same sheet in the other formats is the same tallies: nothing new.
    for fmt in ("openpyxl", "xlsx", "xls", "ods"):
        again = env.ok("import", CAMPAIGN, str(saved_by_libreoffice[fmt]), "--wait")
        assert "0 new, 13 already counted" in again, again
    assert _tallies(env) == 13
    assert _totals(env) == TOTALS


def test_bad_wide_sheets_store_nothing_and_say_where(worker_env: Env, tmp_path: Path) -> None:
    env = worker_env
    _create(env)
    wrong = [*SUM_ROW]
    wrong[7] = 2000
    disagreeing = write_workbook(tmp_path / "合计.xlsx", {"浚县": county_rows(total=wrong)})
    refused = env.run("import", CAMPAIGN, str(disagreeing), "--wait")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "campaigns: 合计.xlsx [浚县]: row 9, column 参与人次: 合计 2,000 but the rows above"
        " add up to 1,900",
        "campaigns: 合计.xlsx: 1 total cell(s) disagree with their rows; nothing stored (fix"
        " the sheet, or --trust-rows to import the rows as they are)",
    ]

    two_metrics = county_rows()
    two_metrics[2] = [*HEADER[:5], "宣传资料及展板（份）", *HEADER[6:]]
    bad_header = write_workbook(tmp_path / "表头.xlsx", {"浚县": two_metrics})
    text_cell = [5, date(2019, 4, 19), "广场", "", "很多", None, None, None, None, None]
    late = [6, date(2019, 4, 30), "广场", "", 5, None, None, None, None, None]
    bad_cells = write_workbook(
        tmp_path / "单元格.xlsx", {"浚县": county_rows([*ACTIVITIES, text_cell, late], None)}
    )
    for path, lines in (
        (
            bad_header,
            [
                "campaigns: 表头.xlsx [浚县]: row 3, column F: header '宣传资料及展板（份）' names"
                " more than one metric: 宣传资料 (materials) and 展板 (boards)"
            ],
        ),
        (
            bad_cells,
            [
                "campaigns: 单元格.xlsx [浚县]: row 8, column 发放宣传资料（份）: not a whole"
                " number: '很多'",
                "campaigns: 单元格.xlsx [浚县]: row 9, column 活动日期: outside the campaign"
                " (2019-04-15 – 2019-04-22)",
                "campaigns: 单元格.xlsx: 2 bad rows (2 errors); nothing stored (fix them, or"
                " --skip-invalid to store the good rows)",
            ],
        ),
    ):
        result = env.run("import", CAMPAIGN, str(path), "--wait")
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == lines
    assert _tallies(env) == 0

    trusted = env.ok("import", CAMPAIGN, str(disagreeing), "--wait", "--trust-rows")
    assert "(--trust-rows: the rows are imported as they are)" in trusted
    assert "13 new" in trusted
    assert _totals(env) == TOTALS
