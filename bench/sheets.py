"""Reading a 1,000,000-row workbook: openpyxl (before) against calamine (after), same run.

    uv run python -m bench.sheets [--rows 1000000] [--keep DIR]

Writes two .xlsx files with openpyxl (write-only mode), then reads and validates each with
`read_tally_file` in a fresh subprocess per measurement (wall and CPU seconds, peak RSS):

- long: the rows of `bench.ingest.write_file` (a province's booths: time, metric, quantity,
  item, venue, recorder; one tally a row), as a workbook instead of CSV;
- wide: a county's 统计表 of as many activity rows (序号, 活动日期, 活动地点, 活动形式, four
  metric columns with empty, "-" and 0 cells, 备注) under a title and a 填报单位 line, and a
  合计 row with the true sums, which the reader checks.

"before" is the reader of the commit before calamine: openpyxl in read-only mode, values
only (`openpyxl_sheets` below, patched in for `workbook_sheets`); everything after the cells
(header, checks, keys) is the same code in both. The CSV of the long rows is read too, as
the floor. `--keep DIR` keeps (and reuses) the files.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from bench.ingest import write_file

CAMPAIGN = "2019-province-booths"


def openpyxl_sheets(path: Path) -> Iterator[object]:
    """The sheets as the reader before calamine read them: openpyxl, read-only, values."""
    from openpyxl import load_workbook

    from campaigns.tallies.sheets.workbooks import Sheet

    workbook = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    try:
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()  # type: ignore[union-attr]
            yield Sheet(sheet.title, sheet.iter_rows(values_only=True))
    finally:
        workbook.close()


def write_long_xlsx(csv_path: Path, path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("全省")
    with csv_path.open(encoding="utf-8") as lines:
        sheet.append(next(lines).rstrip("\n").split(","))
        for line in lines:
            at, metric, quantity, item, venue, by = line.rstrip("\n").split(",")
            sheet.append([at, metric, int(quantity), item or None, venue, by])
    book.save(path)


def write_wide_xlsx(path: Path, rows: int, seed: int = 1204) -> int:
    """The wide sheet; returns how many tallies it holds."""
    from openpyxl import Workbook

    rnd = random.Random(seed)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("浚县")
    sheet.append(["2019年省级宣传点活动情况统计表"])
    sheet.append(["填报单位：浚县司法局（盖章）", None, None, None, "填报日期：2019年4月23日"])
    sheet.append(
        [
            "序号",
            "活动日期",
            "活动地点",
            "活动形式",
            "发放宣传资料（份）",
            "展出展板（块）",
            "接受咨询（人次）",
            "参与人次",
            "备注",
        ]
    )
    days = [date(2019, 4, 15) + timedelta(days=n) for n in range(8)]
    venues = [f"{county}县第{n}宣传点" for county in "东西南北中上下左右内" for n in range(100)]
    forms = ["广场宣传", "进社区", "进校园", "咨询", None]
    sums = [0, 0, 0, 0]
    tallies = 0
    for number in range(1, rows + 1):
        cells: list[object] = []
        for column in range(4):
            kind = rnd.random()
            if kind < 0.25:
                cells.append(None)
            elif kind < 0.3:
                cells.append("-")
            elif kind < 0.35:
                cells.append(0)
            else:
                value = rnd.randint(1, 999)
                cells.append(value)
                sums[column] += value
                tallies += 1
        sheet.append(
            [number, rnd.choice(days), rnd.choice(venues), rnd.choice(forms), *cells, None]
        )
    sheet.append(["合计", None, None, None, *sums, None])
    sheet.append(["填表人：王五", None, "审核人：赵六", None, None, "联系电话：0392-5512345"])
    book.save(path)
    return tallies


_MEASURE = """
import json, resource, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo
from campaigns.planning.metrics import MetricCatalogue
from campaigns.tallies.sheets import reader
if sys.argv[2] == "openpyxl":
    from bench.sheets import openpyxl_sheets
    reader.workbook_sheets = openpyxl_sheets
start = datetime(2019, 4, 14, 16, tzinfo=UTC)
wall, cpu = time.perf_counter(), time.process_time()
report = reader.read_tally_file(
    Path(sys.argv[1]), campaign_id=sys.argv[3], catalogue=MetricCatalogue(),
    timezone=ZoneInfo("Asia/Shanghai"), window=(start, start + timedelta(days=8)),
)
keys = report.accepted.keys()
print(json.dumps({
    "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
    "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rows": report.total_rows, "tallies": len(report.accepted), "keys": len(set(keys)),
    "errors": len(report.errors), "mismatches": len(report.mismatches),
}))
"""


def measure(path: Path, reader: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), reader, CAMPAIGN],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    figures: dict[str, float] = json.loads(result.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-sheets-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = args.rows
    long_csv, long_xlsx = folder / f"long-{rows}.csv", folder / f"long-{rows}.xlsx"
    wide_xlsx = folder / f"wide-{rows}.xlsx"
    started = time.perf_counter()
    if not long_csv.exists():
        write_file(long_csv, rows)
    if not long_xlsx.exists():
        write_long_xlsx(long_csv, long_xlsx)
    if not wide_xlsx.exists():
        write_wide_xlsx(wide_xlsx, rows)
    print(f"files written in {time.perf_counter() - started:.0f} s in {folder}", flush=True)
    table = [
        ("long .csv (floor)", long_csv, "csv"),
        ("long .xlsx", long_xlsx, "openpyxl"),
        ("long .xlsx", long_xlsx, "calamine"),
        ("wide .xlsx", wide_xlsx, "openpyxl"),
        ("wide .xlsx", wide_xlsx, "calamine"),
    ]
    print("| file | size | reader | rows | tallies | read and validated (wall) | CPU | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for label, path, reader in table:
        figures = measure(path, reader)
        assert figures["errors"] == figures["mismatches"] == 0, figures
        assert figures["keys"] == figures["tallies"], figures
        size = path.stat().st_size / 2**20
        print(
            f"| {label} | {size:.0f} MB | {reader} | {figures['rows']:,.0f} |"
            f" {figures['tallies']:,.0f} | {figures['wall']:.1f} s | {figures['cpu']:.1f} s |"
            f" {figures['rss']:.0f} MB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
