"""The rejects file: the rows of an import that have errors, for the field staff to fix.

It is written beside the input as "<stem>.rejects.csv" so that it can be fixed in Excel and
imported again. Its cells come from a file someone else made, so any that a spreadsheet would
run as a formula are neutralised (CSV injection).
"""

from __future__ import annotations

import csv
from pathlib import Path

from campaigns.tallies.sheets.cells import cell_text
from campaigns.tallies.sheets.reader import ImportReport, open_table

# What a spreadsheet may run as a formula when the rejects file is opened (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def write_rejects(report: ImportReport, source: Path) -> Path:
    """Write the rows of `source` that have errors to "<stem>.rejects.csv" beside it.

    The original cells come first, then an "error" column with every problem of the row. The
    file is UTF-8 with BOM so Excel opens it, and cells that a spreadsheet would run as a
    formula are prefixed with an apostrophe.
    """
    reasons: dict[int, list[str]] = {}
    for error in report.errors:
        text = f"{error.column}: {error.reason}" if error.column else error.reason
        reasons.setdefault(error.row, []).append(text)
    rejected: list[tuple[int, list[str]]] = []
    with open_table(source) as table:
        header = table.header
        for row, cells in enumerate(table.rows, table.header_row + 1):
            if row in reasons:
                rejected.append((row, [cell_text(cell) for cell in cells]))
    width = max([len(header), *(len(cells) for _, cells in rejected)])
    target = source.with_name(f"{source.stem}.rejects.csv")
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(_neutralise([*header, *[""] * (width - len(header)), "error"]))
        for row, cells in rejected:
            padded = [*cells, *[""] * (width - len(cells))]
            writer.writerow(_neutralise([*padded, "; ".join(reasons[row])]))
    return target


def _neutralise(cells: list[str]) -> list[str]:
    return [f"'{cell}" if cell.startswith(_FORMULA_PREFIXES) else cell for cell in cells]
