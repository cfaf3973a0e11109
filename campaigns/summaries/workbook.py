"""The summary's spreadsheets: the sheets of its workbook and its CSV files, from the figures.

The workbook has 汇总 (one row per metric, as `render.table_rows`), 按日 and 按地点 (one row
per metric and day or venue) and, for a campaign with reporting units, 按单位统计 (the table
of `render.unit_table`: sub-units indented under their parent). The CSV is 汇总; a campaign
with units gets its 按单位统计 as a second CSV. Every cell goes through `exports`, which
neutralises formulas: unit names and venues are typed by users.
"""

from __future__ import annotations

from collections.abc import Sequence

from campaigns.summaries.exports import Cell, table_to_csv, table_to_xlsx
from campaigns.summaries.prose import Figures
from campaigns.summaries.render import heading, table_rows, unit_table

Sheet = tuple[str, Sequence[str], Sequence[Sequence[Cell]]]

UNIT_SHEET = "按单位统计"
_UNNAMED_VENUE = "（未注明）"


def summary_sheets(figures: Figures) -> list[Sheet]:
    """汇总, 按日, 按地点 and, with reporting units, 按单位统计."""
    headers, rows = table_rows(figures, "zh")
    day_rows: list[list[Cell]] = [
        [_metric(figures, m), day, total]
        for m, days in figures["by_day"].items()
        for day, total in days.items()
    ]
    venue_rows: list[list[Cell]] = [
        [_metric(figures, m), venue or _UNNAMED_VENUE, total]
        for m, venues in figures["by_venue"].items()
        for venue, total in venues.items()
    ]
    sheets: list[Sheet] = [
        ("汇总", headers, rows),
        ("按日", ["指标", "日期", "合计"], day_rows),
        ("按地点", ["指标", "地点", "合计"], venue_rows),
    ]
    unit_headers, unit_rows = unit_table(figures, "zh")
    if unit_rows:
        sheets.append((UNIT_SHEET, unit_headers, unit_rows))
    return sheets


def summary_xlsx(figures: Figures) -> bytes:
    """The workbook: every sheet under the campaign's heading and the as-of line."""
    return table_to_xlsx(
        summary_sheets(figures), title=heading(figures, "zh"), as_of=figures.get("as_of")
    )


def summary_csvs(figures: Figures) -> list[tuple[str, bytes]]:
    """(file name, bytes): `<id>.csv` (汇总), and `<id>-按单位统计.csv` with reporting units."""
    stem = figures["campaign"]["id"]
    files = [(f"{stem}.csv", table_to_csv(*table_rows(figures, "zh")))]
    unit_headers, unit_rows = unit_table(figures, "zh")
    if unit_rows:
        files.append((f"{stem}-{UNIT_SHEET}.csv", table_to_csv(unit_headers, unit_rows)))
    return files


def _metric(figures: Figures, metric_id: str) -> str:
    name: str = figures["metrics"].get(metric_id, {}).get("zh", metric_id)
    return name
