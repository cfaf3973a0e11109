"""Reading and validating tally import files (CSV, .xlsx, .xls or .ods) into rows to record.

Pure: no database, no broker. `read_tally_file` turns a file into validated rows (as
`AcceptedRows`, one list per `TallyRow` field; `ImportReport.rows` makes `TallyRow`s of them)
plus a complete list of `RowError`s (every bad cell of every row), or raises `ImportFileError`
when the file as a whole cannot be used. `rejects.write_rejects` writes the rejected rows beside
the input so the field staff can fix them in Excel and import them again.

The steps live beside this module: `csv_text` and `workbooks` read a file, `headers` finds each
sheet's header (`metric_headers` reads a wide sheet's metric columns), `rows` (with
`cell_values`) checks a long table's rows and `wide` a wide sheet's, into `accepted`.

Conventions a user of an import file relies on:

- CSV is UTF-8 (with or without BOM) or GB18030, detected; a workbook (.xlsx, .xls, .ods) is
  read sheet by sheet: every sheet that holds a tally table is imported, in one batch, and the
  others (no table, hidden, no rows) are listed in `ImportReport.skipped`.
- A table is long (the first row naming both required columns, metric and quantity) or wide
  (a header naming metrics, one row per activity; see `headers` and `wide`). Rows above the
  header (a title such as "2019年科技活动周统计表", 填报单位 and 填报日期 lines) are ignored.
- Row numbers are those a spreadsheet shows (the first line of the file is row 1); blank
  rows are skipped but keep their numbers. Errors name the sheet: "FILE [sheet]: row R, …".
- A date without a time means the start of that day (00:00) in the campaign's timezone;
  any time without an offset is in the campaign's timezone.
- Without a `key` column, each row's key is derived from the campaign, the row's fields and its
  row number (and, in a wide sheet, the cell's column; on a sheet after the first, the
  sheet's name; a row's reporting unit, when it has one): importing the same file twice gives
  the same keys (so it counts once), and two identical rows at different positions are two
  tallies.
- A `单位`/`填报单位`/`unit` column (a wide sheet's `填报单位` column) names each row's
  reporting unit, kept as written: the import resolves it (`campaigns.tallies.row_units`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import chain, islice, repeat
from pathlib import Path
from zoneinfo import ZoneInfo

from campaigns.planning.metrics import MetricCatalogue
from campaigns.tallies.sheets.accepted import AcceptedRows, TallyRow, collector_paused
from campaigns.tallies.sheets.csv_text import NOT_PLAIN, blocks, csv_text
from campaigns.tallies.sheets.headers import NoHeaderError, find_header
from campaigns.tallies.sheets.import_errors import ImportFileError, RowError
from campaigns.tallies.sheets.metric_headers import MetricHeaders
from campaigns.tallies.sheets.rows import RowChecker
from campaigns.tallies.sheets.wide import WideRowChecker
from campaigns.tallies.sheets.workbooks import WORKBOOK_SUFFIXES, Sheet, workbook_sheets

PROGRESS_EVERY = 10_000


@dataclass
class SheetReport:
    """What one imported sheet (or a CSV file) held."""

    # None for CSV.
    name: str | None
    layout: str  # "long" or "wide"
    header_row: int
    header: list[str]
    rows: int
    bad_rows: int
    tallies: int
    # The reporting unit as the sheet names it: its 填报单位 line, else the sheet's name.
    unit_text: str | None
    unit_from: str | None  # "填报单位", "sheet name" or None


@dataclass(frozen=True)
class SkippedSheet:
    name: str
    why: str


@dataclass
class ImportReport:
    """The valid rows of a file, the errors of the others, and how many rows there were."""

    accepted: AcceptedRows
    errors: list[RowError]
    total_rows: int
    bad_rows: int = 0
    sheets: list[SheetReport] = field(default_factory=list)
    skipped: list[SkippedSheet] = field(default_factory=list)
    # Lines to show once: columns kept as notes, totals that could not be checked.
    warnings: list[str] = field(default_factory=list)
    # 合计/小计 cells that differ from the sum of their rows: the import is refused unless
    # the rows are trusted (`campaigns import --trust-rows`).
    mismatches: list[RowError] = field(default_factory=list)

    @cached_property
    def rows(self) -> list[TallyRow]:
        """The accepted rows as `TallyRow`s, made on first use."""
        return self.accepted.tally_rows()


def read_tally_file(
    path: Path,
    *,
    campaign_id: str,
    catalogue: MetricCatalogue,
    timezone: ZoneInfo,
    window: tuple[datetime, datetime] | None = None,
    max_quantity: int = 10**9,
    max_cell_chars: int = 500,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read and validate every row of every sheet of `path`; raise ImportFileError if the
    file is unusable (or no sheet holds a table).

    `window` is the campaign's [start, end) in UTC (naive means UTC), as `local_bounds` makes
    it: times outside it are row errors, so a date alone for the day after the last is one.
    `progress` is called with the number of rows read so far every 10,000 rows and at the end.
    """
    name = path.name
    accepted = AcceptedRows(campaign_id=campaign_id)
    report = ImportReport(accepted, [], 0)
    metric_headers = MetricHeaders(catalogue)
    refusals: dict[str, ImportFileError] = {}
    options = {
        "catalogue": catalogue,
        "timezone": timezone,
        "window": window,
        "max_quantity": max_quantity,
        "max_cell_chars": max_cell_chars,
    }
    with open_sheets(path) as sheets, collector_paused():
        for position, sheet in enumerate(sheets):
            where = name if sheet.name is None else f"{name} [{sheet.name}]"
            if sheet.hidden:
                assert sheet.name is not None
                report.skipped.append(SkippedSheet(sheet.name, "hidden"))
                continue
            try:
                table = find_header(
                    where,
                    sheet.rows,
                    is_csv=sheet.name is None,
                    metric_headers=metric_headers,
                    first_column=sheet.first_column,
                )
            except NoHeaderError as error:
                if sheet.name is None:
                    raise
                report.skipped.append(SkippedSheet(sheet.name, error.why))
                refusals[sheet.name] = error
                continue
            # The first sheet keeps the keys a CSV file of it has; the others add their name.
            place = "" if position == 0 or sheet.name is None else sheet.name
            checker: RowChecker | WideRowChecker
            if table.layout == "wide":
                checker = WideRowChecker(
                    name,
                    table,
                    sheet=sheet.name,
                    accepted=accepted,
                    place=f"{place}!" if place else "",
                    **options,  # type: ignore[arg-type]
                )
                check_chunk = checker.check_cells
            else:
                checker = RowChecker(
                    name,
                    table,
                    campaign_id=campaign_id,
                    sheet=sheet.name,
                    accepted=accepted,
                    place=place,
                    **options,  # type: ignore[arg-type]
                )
                check_chunk = checker.check_texts if table.is_csv else checker.check_cells
            first = table.header_row + 1
            while chunk := list(islice(table.rows, PROGRESS_EVERY)):
                check_chunk(first, chunk)
                first += len(chunk)
                if progress is not None:
                    progress(report.total_rows + checker.total)
            if checker.total == 0:
                empty = ImportFileError(
                    f"{where}: no tally rows below the header (row {table.header_row})"
                )
                if sheet.name is None:
                    raise empty
                report.skipped.append(
                    SkippedSheet(sheet.name, f"no rows below the header (row {table.header_row})")
                )
                refusals[sheet.name] = empty
                continue
            unit, unit_from = table.unit_text, "填报单位"
            if isinstance(checker, WideRowChecker):
                unit = checker.unit_text
                report.warnings += checker.warnings
                report.mismatches += checker.mismatches
            if unit is None:
                unit, unit_from = sheet.name, "sheet name"
            report.sheets.append(
                SheetReport(
                    name=sheet.name,
                    layout=table.layout,
                    header_row=table.header_row,
                    header=table.header,
                    rows=checker.total,
                    bad_rows=checker.failed_rows,
                    tallies=checker.tallies,
                    unit_text=unit,
                    unit_from=unit_from if unit is not None else None,
                )
            )
            report.errors += checker.errors
            report.total_rows += checker.total
            report.bad_rows += checker.failed_rows
    if not report.sheets:
        raise _nothing_to_import(name, report.skipped, refusals)
    return report


def _nothing_to_import(
    name: str, skipped: list[SkippedSheet], refusals: dict[str, ImportFileError]
) -> ImportFileError:
    """The error of a workbook without a table: the sheet's own when it has one sheet."""
    shown = [sheet for sheet in skipped if sheet.why != "hidden"]
    if len(shown) == 1 and shown[0].name in refusals:
        return refusals[shown[0].name]
    if not shown:
        return ImportFileError(f"{name}: the workbook has no visible sheet")
    listed = "; ".join(f"{sheet.name}: {sheet.why}" for sheet in skipped)
    return ImportFileError(f"{name}: no sheet holds a tally table ({listed})")


SUFFIXES = (".csv", *WORKBOOK_SUFFIXES)


@contextmanager
def open_sheets(path: Path) -> Iterator[Iterator[Sheet]]:
    """The sheets of `path`, each read as it is taken (so a CSV error below the header
    raises out of the `with` block). A CSV file is one sheet without a name."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ImportFileError(
            f"{name}: unsupported file type {suffix or '(none)'!r}; import .csv, .xlsx, .xls"
            " or .ods"
        )
    if suffix != ".csv":
        sheets = workbook_sheets(path)
        try:
            yield sheets
        finally:
            sheets.close()
        return
    text = csv_text(path)
    if not NOT_PLAIN.search(text):
        # Without quotes a CSV row is a line split at commas: str.split does what
        # the csv module does, in less than half the time.
        lines = chain.from_iterable(map(str.splitlines, blocks(text)))
        yield iter([Sheet(None, map(str.split, lines, repeat(",")))])
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        yield iter([Sheet(None, reader)])
    except csv.Error as error:
        raise ImportFileError(f"{name}: line {reader.line_num}: not valid CSV ({error})") from None
