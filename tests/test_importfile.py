"""Import files on real files: encodings (UTF-8, BOM, GB18030), .xlsx, every kind of bad cell,
whole-file errors, derived keys, the rejects file, and a property over arbitrary quantity text."""

from __future__ import annotations

import csv
import string
from collections.abc import Iterator, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from campaigns.planning.metrics import BUILTIN_CATALOGUE
from campaigns.tallies.sheets.accepted import TallyRow
from campaigns.tallies.sheets.import_errors import ImportFileError, RowError
from campaigns.tallies.sheets.reader import ImportReport, read_tally_file
from campaigns.tallies.sheets.rejects import write_rejects
from campaigns.tallies.sheets.rows import RowChecker

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAMPAIGN = "2019-national-security-day"
# [2019-04-15 00:00, 2019-04-23 00:00) in Shanghai, as observances.local_bounds gives it.
WINDOW = (datetime(2019, 4, 14, 16, tzinfo=UTC), datetime(2019, 4, 22, 16, tzinfo=UTC))
ZH_HEADER = ["指标", "数量", "物品", "地点", "时间", "记录人", "备注"]
EN_HEADER = ["metric", "quantity", "item", "venue", "occurred_at", "recorded_by", "note"]


def write_csv(path: Path, rows: Sequence[Sequence[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as file:
        csv.writer(file).writerows(rows)
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def read(path: Path, **options: object) -> ImportReport:
    return read_tally_file(
        path,
        campaign_id=CAMPAIGN,
        catalogue=BUILTIN_CATALOGUE,
        timezone=SHANGHAI,
        **options,  # type: ignore[arg-type]
    )


def only_error(report: ImportReport) -> RowError:
    assert report.rows == []
    assert len(report.errors) == 1, report.errors
    return report.errors[0]


def bad_cell(tmp_path: Path, column: str, value: str, **options: object) -> RowError:
    """The single error of a one-row file whose `column` holds `value`."""
    row = {"metric": "materials", "quantity": "300", "occurred_at": "2019-04-15 10:00"}
    row[column] = value
    path = write_csv(tmp_path / "tallies.csv", [list(row), list(row.values())])
    error = only_error(read(path, **options))
    assert (error.file, error.row, error.column) == ("tallies.csv", 2, column)
    return error


# --- encodings and formats ------------------------------------------------------------------

ZH_ROWS = [
    ZH_HEADER,
    ["宣传资料", "300", "宣传折页", "市科技馆", "2019-04-15 10:30", "张三", "上午场"],
    ["参与人次", "1,200", "", "东区文化广场", "2019/4/15", "李四", ""],
    ["讲座", "12", "", "", "2019年4月16日", "", ""],
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_chinese_headers_and_metric_names_in_each_encoding(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "统计.csv", ZH_ROWS, encoding)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")  # the file really is not UTF-8

    report = read(path)

    assert report.errors == []
    assert report.total_rows == 3
    first, second, third = report.rows
    assert (first.row, first.metric, first.quantity) == (2, "materials", 300)
    assert (first.item, first.venue, first.recorded_by, first.note) == (
        "宣传折页",
        "市科技馆",
        "张三",
        "上午场",
    )
    assert first.occurred_at == datetime(2019, 4, 15, 2, 30, tzinfo=UTC)
    assert (second.metric, second.quantity, second.item, second.note) == (
        "attendance",
        1200,
        None,
        None,
    )
    # A date alone is the start of that day in the campaign's timezone.
    assert second.occurred_at == datetime(2019, 4, 14, 16, tzinfo=UTC)
    assert (third.metric, third.quantity) == ("lectures", 12)
    assert third.occurred_at == datetime(2019, 4, 15, 16, tzinfo=UTC)


def test_gb18030_and_utf8_give_the_same_rows_and_keys(tmp_path: Path) -> None:
    utf8 = read(write_csv(tmp_path / "a.csv", ZH_ROWS, "utf-8-sig"))
    gb = read(write_csv(tmp_path / "b.csv", ZH_ROWS, "gb18030"))
    assert utf8.rows == gb.rows


def test_text_in_no_known_encoding_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tallies.csv"
    path.write_bytes(b"metric,quantity\nmaterials,3\n\x80\xff\xfe\x81\x30\n")
    with pytest.raises(ImportFileError, match=r"tallies\.csv: .*neither UTF-8 nor GB18030"):
        read(path)


def test_xlsx_with_english_headers_and_a_datetime_cell(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "tallies.xlsx",
        [
            ["Metric", "Quantity", "Venue", "Occurred At", "Note"],
            ["materials", 300, "Science museum", datetime(2019, 4, 15, 9, 30), None],
            ["boards", 12.0, None, date(2019, 4, 16), 7],
            ["funding", "5,000", None, "2019-04-17T10:00:00+08:00", None],
        ],
    )

    report = read(path, window=WINDOW)

    assert report.errors == []
    materials, boards, funding = report.rows
    assert (materials.row, materials.quantity, materials.venue) == (2, 300, "Science museum")
    assert materials.occurred_at == datetime(2019, 4, 15, 1, 30, tzinfo=UTC)
    assert (boards.quantity, boards.note) == (12, "7")
    assert boards.occurred_at == datetime(2019, 4, 15, 16, tzinfo=UTC)
    assert (funding.quantity, funding.occurred_at) == (5000, datetime(2019, 4, 17, 2, tzinfo=UTC))


def test_xlsx_bad_cells_and_uncalculated_formulas_are_row_errors(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "tallies.xlsx",
        [
            ["metric", "quantity", "occurred_at"],
            ["materials", "=1+2", None],  # a formula Excel never calculated reads as empty
            ["materials", 2.5, None],
            ["materials", True, None],
            ["materials", 5, 43570],
            [None, None, None],
            ["lectures", 1, None],
        ],
    )

    report = read(path)

    assert [row.row for row in report.rows] == [7]
    assert [(e.row, e.column, e.reason) for e in report.errors] == [
        (2, "quantity", "empty; a quantity is required"),
        (3, "quantity", "not a whole number: '2.5'"),
        (4, "quantity", "not a whole number: 'TRUE'"),
        (5, "occurred_at", "not a date: '43570'"),
    ]
    assert report.total_rows == 5


def test_csv_and_xlsx_of_the_same_table_give_the_same_rows(tmp_path: Path) -> None:
    """Large clean CSV files take a batched path, xlsx files the row-by-row one: same result."""
    table: list[list[object]] = [[*EN_HEADER, "key"]]
    for n in range(300):
        table.append(
            [
                ["materials", "宣传资料", "boards"][n % 3],
                n % 50 + 1,
                ["leaflets", ""][n % 2],
                f"venue {n % 7}",
                datetime(2019, 4, 15 + n % 5, 8 + n % 9, 30),
                "张三",
                "" if n % 4 else "morning",
                f"k{n}" if n % 3 else "",  # explicit keys on some rows, derived on others
            ]
        )
    as_text = [
        [v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v for v in row]
        for row in table
    ]

    from_csv = read(write_csv(tmp_path / "t.csv", as_text))
    from_xlsx = read(write_xlsx(tmp_path / "t.xlsx", table))

    assert from_csv.errors == from_xlsx.errors == []
    assert len(from_csv.rows) == 300
    assert from_csv.rows == from_xlsx.rows
    assert from_csv.rows[1].key == "k1"
    assert len({row.key for row in from_csv.rows}) == 300


def test_duplicate_keys_far_apart_in_a_large_file(tmp_path: Path) -> None:
    rows = [["key", "metric", "quantity"], *([f"k{n}", "boards", "1"] for n in range(500))]
    rows[400][0] = "k3"  # file row 401 repeats the key of row 5

    report = read(write_csv(tmp_path / "t.csv", rows))

    assert [(e.row, e.column, e.reason) for e in report.errors] == [
        (401, "key", "duplicate key 'k3' (first on row 5)")
    ]
    assert len(report.rows) == 499
    assert [row.key for row in report.rows[:3]] == ["k0", "k1", "k2"]


# --- size and error reports -----------------------------------------------------------------


def test_ten_thousand_rows_with_one_bad_row(tmp_path: Path) -> None:
    rows: list[list[str]] = [EN_HEADER]
    for n in range(10_000):
        rows.append(
            ["materials", str(n % 900 + 1), "leaflet", "museum", "2019-04-16 10:00", "Li", ""]
        )
    rows[6_001][1] = "1.5"  # file row 6002
    seen: list[int] = []

    report = read(write_csv(tmp_path / "big.csv", rows), progress=seen.append)

    assert report.total_rows == 10_000
    assert len(report.rows) == 9_999
    (error,) = report.errors
    assert str(error) == "big.csv: row 6002, column quantity: not a whole number: '1.5'"
    assert [row.row for row in report.rows] == [*range(2, 6002), *range(6003, 10_002)]
    assert seen == [10_000]


def test_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    path = tmp_path / "tallies.csv"
    path.write_text(
        "2019年国家安全教育日宣传统计表,,\n"
        "\n"
        "metric,quantity,note\n"
        "materials,1,\n"
        "\n"
        ",,\n"
        'lectures,2,"two\tparts"\n'
        "boards,x,\n",
        encoding="utf-8",
    )

    report = read(path)

    assert [(row.row, row.metric, row.note) for row in report.rows] == [
        (4, "materials", None),
        (7, "lectures", "two\tparts"),
    ]
    assert [(e.row, e.column) for e in report.errors] == [(8, "quantity")]
    assert report.total_rows == 3


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("metric", "banners", "unknown metric 'banners'"),
        ("metric", "", "empty; a metric is required"),
        ("quantity", "-3", "must be more than 0: '-3'"),
        ("quantity", "0", "must be more than 0: '0'"),
        ("quantity", "abc", "not a whole number: 'abc'"),
        ("quantity", "1.5", "not a whole number: '1.5'"),
        ("quantity", "NaN", "not a whole number: 'NaN'"),
        ("quantity", "inf", "not a whole number: 'inf'"),
        ("quantity", "=1+2", "not a whole number: '=1+2'"),
        ("quantity", "1,20", "not a whole number: '1,20'"),
        ("quantity", "", "empty; a quantity is required"),
        ("quantity", "2000000000", "more than the limit of 1,000,000,000: '2000000000'"),
        ("occurred_at", "next tuesday", "not a date: 'next tuesday'"),
        ("occurred_at", "2019-02-30", "not a date: '2019-02-30'"),
        ("occurred_at", "2019-04-23", "outside the campaign (2019-04-15 – 2019-04-22)"),
        ("occurred_at", "2019-04-14 23:59", "outside the campaign (2019-04-15 – 2019-04-22)"),
        ("note", "line one\nline two", "contains a control character (U+000A)"),
        ("venue", "museum\x00", "contains a control character (U+0000)"),
        ("item", "x" * 501, "longer than 500 characters (501)"),
    ],
)
def test_each_kind_of_bad_cell(tmp_path: Path, column: str, value: str, reason: str) -> None:
    error = bad_cell(tmp_path, column, value, window=WINDOW)
    assert error.reason.startswith(reason)


def test_window_holds_its_first_and_last_day(tmp_path: Path) -> None:
    times = ["2019-04-15", "2019-04-22 23:59", "2019-04-14 23:59", "2019-04-23"]
    rows = [["metric", "quantity", "occurred_at"], *(["boards", "1", t] for t in times)]

    report = read(write_csv(tmp_path / "t.csv", rows), window=WINDOW)

    assert [row.row for row in report.rows] == [2, 3]
    assert [(e.row, e.reason) for e in report.errors] == [
        (4, "outside the campaign (2019-04-15 – 2019-04-22)"),
        (5, "outside the campaign (2019-04-15 – 2019-04-22)"),
    ]


def test_limits_are_options(tmp_path: Path) -> None:
    assert bad_cell(tmp_path, "quantity", "101", max_quantity=100).reason == (
        "more than the limit of 100: '101'"
    )
    # The limit holds for every column: the time "2019-04-15 10:00" has 16 characters.
    assert bad_cell(tmp_path, "note", "x" * 17, max_cell_chars=16).reason == (
        "longer than 16 characters (17)"
    )


def test_every_bad_cell_of_every_row_is_reported(tmp_path: Path) -> None:
    rows = [
        ["metric", "quantity", "occurred_at", "key", "note"],
        ["materials", "5", "", "a", ""],
        ["nothing", "-1", "someday", "b", "bad\x07"],
        ["boards", "2", "", "a", ""],
        ["boards", "3", "", "c", "", "stray"],
    ]
    report = read(write_csv(tmp_path / "t.csv", rows))

    assert [row.row for row in report.rows] == [2]
    assert [(e.row, e.column) for e in report.errors] == [
        (3, "metric"),
        (3, "quantity"),
        (3, "occurred_at"),
        (3, "note"),
        (4, "key"),
        (5, ""),
    ]
    assert report.errors[4].reason == "duplicate key 'a' (first on row 2)"
    assert str(report.errors[5]) == (
        "t.csv: row 5: 1 filled cell(s) beyond the last column of the header"
        " (a value with a comma, like 1,200, must be in quotes)"
    )
    assert report.total_rows == 4


def test_chinese_header_names_the_column_in_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [["指标", "数量"], ["宣传资料", "很多"]])
    assert str(only_error(read(path))) == "t.csv: row 2, column 数量: not a whole number: '很多'"


def test_date_formats(tmp_path: Path) -> None:
    texts = [
        "2019-04-15",
        "2019-04-15 10:30",
        "2019-04-15T10:30:00+08:00",
        "2019-04-15T02:30:00Z",
        "2019/4/15",
        "2019/4/15 10:30",
        "2019年4月15日",
        "2019年4月15日 10:30",
        "2019-4-15 10:30:00",
    ]
    rows = [["metric", "quantity", "occurred_at"], *(["materials", "1", t] for t in texts)]

    report = read(write_csv(tmp_path / "t.csv", rows))

    assert report.errors == []
    start, half_past_ten = (
        datetime(2019, 4, 14, 16, tzinfo=UTC),
        datetime(2019, 4, 15, 2, 30, tzinfo=UTC),
    )
    assert [row.occurred_at for row in report.rows] == [
        start,
        half_past_ten,
        half_past_ten,
        half_past_ten,
        start,
        half_past_ten,
        start,
        half_past_ten,
        half_past_ten,
    ]
    assert all(row.occurred_at is None or row.occurred_at.tzinfo is UTC for row in report.rows)


def test_naive_window_means_utc(tmp_path: Path) -> None:
    naive = (WINDOW[0].replace(tzinfo=None), WINDOW[1].replace(tzinfo=None))
    error = bad_cell(tmp_path, "occurred_at", "2019-04-23 08:00", window=naive)
    assert error.reason == "outside the campaign (2019-04-15 – 2019-04-22)"


# --- whole-file errors ----------------------------------------------------------------------


def test_missing_required_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [["metric", "amount"], ["materials", "3"]])
    with pytest.raises(ImportFileError) as caught:
        read(path)
    assert str(caught.value) == (
        "t.csv: no header row with the required columns metric/指标, quantity/数量,"
        " nor one naming metrics such as 宣传资料（份） (first row has: 'metric', 'amount')"
    )


def test_a_column_given_twice(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [["metric", "quantity", "数量"], ["materials", "3", "4"]])
    with pytest.raises(ImportFileError, match="columns 'quantity' and '数量' both mean quantity"):
        read(path)


@pytest.mark.parametrize("content", ["", "\n\n", ",,\n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"^t\.csv: the file is empty$"):
        read(path)


def test_header_without_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [["metric", "quantity"], ["", ""]])
    with pytest.raises(ImportFileError, match=r"t\.csv: no tally rows below the header \(row 1\)"):
        read(path)


@pytest.mark.parametrize("name", ["tallies.numbers", "tallies.txt", "tallies"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("metric,quantity\nmaterials,3\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=rf"^{name}: unsupported file type"):
        read(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"^gone\.csv: cannot read the file"):
        read(tmp_path / "gone.csv")
    not_a_workbook = tmp_path / "t.xlsx"
    not_a_workbook.write_text("metric,quantity\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"^t\.xlsx: not a readable \.xlsx workbook"):
        read(not_a_workbook)
    for suffix in (".xls", ".ods"):
        text_named_so = not_a_workbook.rename(not_a_workbook.with_suffix(suffix))
        with pytest.raises(ImportFileError, match=rf"^t\{suffix}: not a readable \{suffix} "):
            read(text_named_so)
        not_a_workbook = text_named_so
    workbook_named_csv = tmp_path / "w.csv"
    write_xlsx(tmp_path / "w.xlsx", [["metric", "quantity"]]).rename(workbook_named_csv)
    with pytest.raises(ImportFileError, match=r"^w\.csv: an Excel workbook, not CSV"):
        read(workbook_named_csv)


# --- keys -----------------------------------------------------------------------------------


def test_derived_keys_are_stable_and_positional(tmp_path: Path) -> None:
    row = ["materials", "300", "leaflet", "museum", "2019-04-15 10:00", "Li", ""]
    path = write_csv(tmp_path / "t.csv", [EN_HEADER, row, row, ["boards", "1"] + [""] * 5])

    first, second = read(path), read(path)

    keys = [tally.key for tally in first.rows]
    assert keys == [tally.key for tally in second.rows]
    assert len(set(keys)) == 3
    assert all(len(key) == 32 and set(key) <= set(string.hexdigits.lower()) for key in keys)
    # The campaign is part of the key: the same file for another campaign is other tallies.
    other = read_tally_file(
        path, campaign_id="2019-world-ip-day", catalogue=BUILTIN_CATALOGUE, timezone=SHANGHAI
    )
    assert not set(keys) & {tally.key for tally in other.rows}


def test_derived_keys_ignore_spelling_of_the_same_values(tmp_path: Path) -> None:
    plain = write_csv(
        tmp_path / "a.csv", [EN_HEADER, ["materials", "1200", "", "", "2019-04-15", "", ""]]
    )
    spelled = write_csv(
        tmp_path / "b.csv", [ZH_HEADER, [" 宣传资料", "1,200", " ", "", "2019/4/15 00:00", "", ""]]
    )
    assert read(plain).rows[0].key == read(spelled).rows[0].key


def test_explicit_keys_are_used_as_given(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        [["编号", "指标", "数量"], ["  booth-1/2019 ", "展板", "3"], ["", "展板", "3"]],
    )
    given, derived = read(path).rows
    assert given.key == "booth-1/2019"
    assert len(derived.key) == 32 and derived.key != given.key


# --- rejects --------------------------------------------------------------------------------


def test_write_rejects_is_readable_and_neutralised(tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "tallies.csv",
        [
            ["metric", "quantity", "note", "序号"],
            ["materials", "5", "fine", "1"],
            ["materials", "=1+2", "@SUM(A1)", "2"],
            ["banners", "-4", "+cmd", "3"],
            ["boards", "2", "\tx\x01", "4"],
        ],
    )
    report = read(source)

    (target,) = write_rejects(report, source)

    assert target == tmp_path / "tallies.rejects.csv"
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    with target.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [
        ["metric", "quantity", "note", "序号", "error"],
        ["materials", "'=1+2", "'@SUM(A1)", "2", "quantity: not a whole number: '=1+2'"],
        [
            "banners",
            "'-4",
            "'+cmd",
            "3",
            "metric: unknown metric 'banners'; quantity: must be more than 0: '-4'",
        ],
        ["boards", "2", "'\tx\x01", "4", "note: contains a control character (U+0001)"],
    ]


def test_write_rejects_of_an_xlsx_keeps_extra_cells(tmp_path: Path) -> None:
    source = write_xlsx(
        tmp_path / "t.xlsx",
        [["metric", "quantity"], ["materials", 1.5, "scratch"], ["boards", 2]],
    )
    report = read(source)

    (target,) = write_rejects(report, source)

    with target.open(encoding="utf-8-sig", newline="") as file:
        assert list(csv.reader(file)) == [
            ["metric", "quantity", "", "error"],
            ["materials", "1.5", "scratch", "quantity: not a whole number: '1.5'"],
        ]


# --- property -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=30) | st.from_regex(r"[ ]?[-+]?[0-9０-９,.]{0,14}[ ]?", fullmatch=True)
)
def test_any_quantity_text_is_a_positive_int_or_one_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = write_csv(
        tmp_path_factory.mktemp("q") / "q.csv", [["metric", "quantity"], ["materials", text]]
    )

    report = read(path)

    assert report.total_rows == 1
    if report.rows:
        (tally,) = report.rows
        assert report.errors == []
        assert isinstance(tally.quantity, int) and 0 < tally.quantity <= 10**9
        assert tally.quantity == int(text.strip().replace(",", "").split(".")[0])
    else:
        (error,) = report.errors
        assert (error.row, error.column) == (2, "quantity")
        assert error.reason


def test_accepted_columns_and_rows_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths (batches, and single rows around a bad one) fill the same columns; `rows`
    makes `TallyRow`s of them, and equal texts share one str."""
    rows: list[list[str]] = [[*EN_HEADER, "key"]]
    for n in range(1000):
        rows.append(
            [
                ["materials", "boards"][n % 2],
                str(n % 7 + 1),
                ["", "宣传折页"][n % 2],
                f"venue {n % 3}",
                ["", "2019-04-16 10:00"][n % 2],
                ["张三", ""][n % 3 == 0],
                "" if n % 5 else "morning",
                f"k{n}" if n % 4 == 0 else "",
            ]
        )
    rows[150][1] = "x"  # file row 151: the rows around it are checked one by one
    batches: list[bool] = []
    accept_batch = RowChecker._accept_batch

    def spy(checker: RowChecker, first: int, cells: list[Sequence[object]]) -> bool:
        batches.append(accept_batch(checker, first, cells))
        return batches[-1]

    monkeypatch.setattr(RowChecker, "_accept_batch", spy)

    report = read(write_csv(tmp_path / "t.csv", rows))

    assert True in batches and False in batches
    accepted = report.accepted
    assert len(accepted) == len(report.rows) == 999
    for field in fields(TallyRow):
        column = accepted.keys() if field.name == "key" else getattr(accepted, field.name)
        assert column == [getattr(tally, field.name) for tally in report.rows]
    # Given keys as written; the others derived (32 hex digits), in any slice alike.
    assert accepted.given_key[:5] == ["k0", "", "", "", "k4"]
    assert [len(key) for key in accepted.keys(0, 5)] == [2, 32, 32, 32, 2]
    assert accepted.keys(148, 152) == accepted.keys()[148:152]
    assert all(isinstance(tally, TallyRow) for tally in report.rows)
    assert report.rows is report.rows  # made once
    assert accepted.tally_rows(148, 152) == report.rows[148:152]
    assert [tally.row for tally in report.rows[148:151]] == [150, 152, 153]
    # "venue 0" of a batch row (row 2) and of a row checked singly (row 152) are one str.
    assert accepted.venue[0] == accepted.venue[149] == "venue 0"
    assert accepted.venue[0] is accepted.venue[149]
    assert accepted.item[:2] == [None, "宣传折页"]


def test_import_chunks_are_the_rows_as_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import's broker chunks are made straight from the columns: the same chunks as from
    the rows one by one, with each row's unit as the code its 单位 text resolved to."""
    from campaigns.models import Campaign
    from campaigns.planning.unit_directory import Unit, UnitDirectory
    from campaigns.tallies.chunks import import_chunks
    from campaigns.tallies.encoding import utc_text
    from campaigns.tallies.row_units import resolve_row_units

    path = write_csv(
        tmp_path / "t.csv",
        [
            [*EN_HEADER, "key", "单位"],
            *(
                [
                    "宣传资料",
                    f"{n % 3 + 1},000",
                    ["", "leaflet"][n % 2],
                    f"venue {n % 2}",
                    ["", "2019-04-15 07:59", "2019-04-16 10:30"][n % 3],
                    ["", "Li"][n % 2],
                    ["", "morning"][n % 3 == 0],
                    ["", f"k{n}"][n % 4 == 0],
                    ["", "浚县", "410622"][n % 3],
                ]
                for n in range(10)
            ),
        ],
    )
    report = read(path, window=WINDOW)
    directory = UnitDirectory([Unit("410621", "浚县"), Unit("410622", "淇县")])
    units = resolve_row_units(report.accepted, directory, file="t.csv")
    assert (units.errors, units.codes) == ([], ["410621", "410622"])
    campaign = Campaign(
        id=CAMPAIGN,
        kind="custom",
        year=2019,
        title="x",
        start_at=WINDOW[0],
        end_at=WINDOW[1],
        timezone="Asia/Shanghai",
    )
    sent: list[tuple[dict[str, list[str | None]], str]] = []
    monkeypatch.setattr(
        "campaigns.tallies.chunks.encode_chunk",
        lambda columns, *, source, reports_for: sent.append((columns, source)),
    )

    list(import_chunks(report.accepted, campaign, size=4, source="import:t.csv", actor="me"))

    assert "rows" not in vars(report)  # no TallyRow was made
    expected = []
    for start in range(0, 10, 4):
        chunk = report.rows[start : start + 4]
        moments = [tally.occurred_at or campaign.start_at for tally in chunk]
        columns: dict[str, list[str | None]] = {
            "metric": [tally.metric for tally in chunk],
            "item": [tally.item for tally in chunk],
            "venue": [tally.venue for tally in chunk],
            "note": [tally.note for tally in chunk],
            "key": [tally.key for tally in chunk],
            "quantity": [str(tally.quantity) for tally in chunk],
            "occurred_at": [utc_text(moment) for moment in moments],
            "day": [moment.astimezone(SHANGHAI).date().isoformat() for moment in moments],
            "recorded_by": [tally.recorded_by or "me" for tally in chunk],
            "is_correction": ["0"] * len(chunk),
            "reason": [None] * len(chunk),
            "unit": [tally.unit for tally in chunk],
        }
        expected.append((columns, "import:t.csv"))
    assert sent == expected
    first = sent[0][0]
    assert first["quantity"][:3] == ["1000", "2000", "3000"]
    assert first["occurred_at"][:3] == [
        "2019-04-14 16:00:00.000000",  # no time: the campaign's start
        "2019-04-14 23:59:00.000000",
        "2019-04-16 02:30:00.000000",
    ]
    assert first["day"][:3] == ["2019-04-15", "2019-04-15", "2019-04-16"]
    assert first["recorded_by"][:2] == ["me", "Li"]
    assert first["unit"][:3] == [None, "410621", "410622"]
    assert [len(columns["key"]) for columns, _ in sent] == [4, 4, 2]


def test_rows_are_frozen_values(tmp_path: Path) -> None:
    (tally,) = read(write_csv(tmp_path / "t.csv", [["metric", "quantity"], ["boards", "4"]])).rows
    assert isinstance(tally, TallyRow)
    with pytest.raises(AttributeError):
        tally.quantity = 5  # type: ignore[misc]


# Valid cells (a "*" key becomes a key of its own), and bad ones to put in a few places.
GOOD_CELLS = {
    "metric": ["materials", "宣传资料", " boards ", "BOARDS"],
    "quantity": ["1", "300", "1,200", "１２", "300.0"],
    "item": ["", "leaflet", "宣传\u3000折页", "a\tb", "x" * 25],
    "occurred_at": ["", "2019-04-15", "2019/4/16 10:30", "2019年4月17日"],
    "key": ["", "*"],
}
BAD_CELLS = {
    "metric": ["banners", ""],
    "quantity": ["0", "-3", "1.5", "", "x"],
    "item": ["bad\x0bcell", "x" * 26],
    "occurred_at": ["2019-05-01", "soon"],
    "key": ["dup"],
}


@settings(max_examples=25, deadline=None)
@given(
    table=st.lists(
        st.tuples(*(st.sampled_from(values) for values in GOOD_CELLS.values())),
        min_size=64,
        max_size=300,
    ),
    spoilt=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=299),
            st.sampled_from(
                [(column, bad) for column, values in BAD_CELLS.items() for bad in values]
            ),
        ),
        max_size=4,
    ),
    blank_at=st.none() | st.integers(min_value=0, max_value=300),
)
def test_batched_and_row_by_row_checks_agree(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch_module: pytest.MonkeyPatch,
    table: list[tuple[str, ...]],
    spoilt: list[tuple[int, tuple[str, str]]],
    blank_at: int | None,
) -> None:
    """Clean CSV rows are accepted in batches; the result must be what row-by-row gives."""
    columns = list(GOOD_CELLS)
    rows = [[f"k{n}" if cell == "*" else cell for cell in row] for n, row in enumerate(table)]
    for index, (column, bad) in spoilt:
        rows[index % len(rows)][columns.index(column)] = bad
    if blank_at is not None:
        rows.insert(blank_at % len(rows), [])
    path = write_csv(tmp_path_factory.mktemp("agree") / "t.csv", [columns, *rows])
    options: dict[str, object] = {"window": WINDOW, "max_cell_chars": 25}

    with monkeypatch_module.context() as patch:
        # Small batches, so that a bad row leaves clean batches around it.
        patch.setattr("campaigns.tallies.sheets.rows._SMALLEST_BATCH", 4)
        batched = read(path, **options)
        patch.setattr("campaigns.tallies.sheets.rows._SMALLEST_BATCH", 10**9)
        row_by_row = read(path, **options)

    assert batched == row_by_row
    assert batched.total_rows == len(table)
    assert len(batched.rows) >= len(table) - len(spoilt)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch
