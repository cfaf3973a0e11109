"""Table exports: xlsx read back with openpyxl, CSV read back with csv, injection neutralised."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from campaigns.summaries.exports import Cell, neutralise, table_to_csv, table_to_xlsx

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
