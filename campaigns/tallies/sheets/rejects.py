"""The rejects file: the rows of an import that have errors, for the field staff to fix.

It is written beside the input as "<stem>.rejects.csv" so that it can be fixed in Excel and
imported again; when the rejected rows lie in several sheets of a workbook, each sheet gets
its own, "<stem>.<sheet>.rejects.csv", under its own header. Its cells come from a file
someone else made, so any that a spreadsheet would run as a formula are neutralised (CSV
injection).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from campaigns.tallies.sheets.cells import cell_text
from campaigns.tallies.sheets.reader import ImportReport, open_sheets

# What a spreadsheet may run as a formula when the rejects file is opened (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Characters a file name should not hold, in a sheet's name.
_NOT_IN_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def write_rejects(report: ImportReport, source: Path) -> list[Path]:
    """Write the rows of `source` that have errors beside it; return the files written.

    The original cells come first, then an "error" column with every problem of the row. The
    file is UTF-8 with BOM so Excel opens it, and cells that a spreadsheet would run as a
    formula are prefixed with an apostrophe.
    """
    reasons: dict[str | None, dict[int, list[str]]] = {}
    for error in report.errors:
        text = f"{error.column}: {error.reason}" if error.column else error.reason
        reasons.setdefault(error.sheet, {}).setdefault(error.row, []).append(text)
    headers = {sheet.name: sheet.header for sheet in report.sheets}
    rejected: dict[str | None, list[tuple[int, list[str]]]] = {}
    with open_sheets(source) as sheets:
        for sheet in sheets:
            wanted = reasons.get(sheet.name)
            if not wanted:
                continue
            found = rejected.setdefault(sheet.name, [])
            last = max(wanted)
            for row, cells in enumerate(sheet.rows, 1):
                if row in wanted:
                    found.append((row, [cell_text(cell) for cell in cells]))
                if row >= last:
                    break
    targets: list[Path] = []
    for sheet_name, rows in rejected.items():
        suffix = ".rejects.csv"
        if len(rejected) > 1 and sheet_name is not None:
            suffix = f".{_NOT_IN_NAMES.sub('_', sheet_name)}.rejects.csv"
        target = source.with_name(f"{source.stem}{suffix}")
        _write(target, headers.get(sheet_name, []), rows, reasons[sheet_name])
        targets.append(target)
    return targets


def _write(
    target: Path,
    header: list[str],
    rejected: list[tuple[int, list[str]]],
    reasons: dict[int, list[str]],
) -> None:
    width = max([len(header), *(len(cells) for _, cells in rejected)])
    with target.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(_neutralise([*header, *[""] * (width - len(header)), "error"]))
        for row, cells in rejected:
            padded = [*cells, *[""] * (width - len(cells))]
            writer.writerow(_neutralise([*padded, "; ".join(reasons[row])]))


def _neutralise(cells: list[str]) -> list[str]:
    return [f"'{cell}" if cell.startswith(_FORMULA_PREFIXES) else cell for cell in cells]
