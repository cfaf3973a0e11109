"""Reading and validating tally import files (CSV or .xlsx) into rows ready to record.

Pure: no database, no broker. `read_tally_file` turns a file into validated rows (as
`AcceptedRows`, one list per `TallyRow` field; `ImportReport.rows` makes `TallyRow`s of them)
plus a complete list of `RowError`s (every bad cell of every row), or raises `ImportFileError`
when the file as a whole cannot be used. `rejects.write_rejects` writes the rejected rows beside
the input so the field staff can fix them in Excel and import them again.

The steps live beside this module: `csv_text` and `workbooks` read a file, `headers` finds its
header, `rows` (with `cell_values`) checks its rows into `accepted`.

Conventions a user of an import file relies on:

- CSV is UTF-8 (with or without BOM) or GB18030, detected; .xlsx is read from its first sheet.
- The header is the first row that names both required columns (metric and quantity); rows
  above it (a title such as "2019年科技活动周统计表") are ignored. Unknown columns are ignored.
- Row numbers are those a spreadsheet shows (the first line of the file is row 1); blank
  rows are skipped but keep their numbers.
- A date without a time means the start of that day (00:00) in the campaign's timezone;
  any time without an offset is in the campaign's timezone.
- Without a `key` column, each row's key is derived from the campaign, the row's fields and its
  row number: importing the same file twice gives the same keys (so it counts once), and two
  identical rows at different positions are two tallies.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from itertools import chain, islice, repeat
from pathlib import Path
from zoneinfo import ZoneInfo

from campaigns.planning.metrics import MetricCatalogue
from campaigns.tallies.sheets.accepted import AcceptedRows, TallyRow, collector_paused
from campaigns.tallies.sheets.csv_text import NOT_PLAIN, blocks, csv_text
from campaigns.tallies.sheets.headers import Table, find_header
from campaigns.tallies.sheets.import_errors import ImportFileError, RowError
from campaigns.tallies.sheets.rows import RowChecker
from campaigns.tallies.sheets.workbooks import xlsx_records

PROGRESS_EVERY = 10_000


@dataclass
class ImportReport:
    """The valid rows of a file, the errors of the others, and how many rows there were."""

    accepted: AcceptedRows
    errors: list[RowError]
    total_rows: int

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
    """Read and validate every row of `path`; raise ImportFileError if the file is unusable.

    `window` is the campaign's [start, end) in UTC (naive means UTC), as `local_bounds` makes
    it: times outside it are row errors, so a date alone for the day after the last is one.
    `progress` is called with the number of rows read so far every 10,000 rows and at the end.
    """
    with open_table(path) as table, collector_paused():
        checker = RowChecker(
            path.name,
            table,
            campaign_id=campaign_id,
            catalogue=catalogue,
            timezone=timezone,
            window=window,
            max_quantity=max_quantity,
            max_cell_chars=max_cell_chars,
        )
        check_chunk = checker.check_texts if table.is_csv else checker.check_cells
        first = table.header_row + 1
        while chunk := list(islice(table.rows, PROGRESS_EVERY)):
            check_chunk(first, chunk)
            first += len(chunk)
            if progress is not None:
                progress(checker.total)
    if checker.total == 0:
        raise ImportFileError(
            f"{path.name}: no tally rows below the header (row {table.header_row})"
        )
    return ImportReport(checker.accepted, checker.errors, checker.total)


@contextmanager
def open_table(path: Path) -> Iterator[Table]:
    """`path` as a `Table`: its header found, its rows read as they are taken (so a CSV
    error below the header raises out of the `with` block)."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ImportFileError(
            f"{name}: unsupported file type {suffix or '(none)'!r}; import .csv or .xlsx"
            " (save .xls workbooks as .xlsx)"
        )
    with ExitStack() as stack:
        if suffix == ".csv":
            text = csv_text(path)
            if not NOT_PLAIN.search(text):
                # Without quotes a CSV row is a line split at commas: str.split does what
                # the csv module does, in less than half the time.
                lines = chain.from_iterable(map(str.splitlines, blocks(text)))
                rows = map(str.split, lines, repeat(","))
                yield find_header(name, rows, is_csv=True)
                return
            reader = csv.reader(io.StringIO(text, newline=""))
            try:
                yield find_header(name, reader, is_csv=True)
            except csv.Error as error:
                raise ImportFileError(
                    f"{name}: line {reader.line_num}: not valid CSV ({error})"
                ) from None
        else:
            sheet = xlsx_records(path)
            stack.callback(sheet.close)
            yield find_header(name, sheet, is_csv=False)
