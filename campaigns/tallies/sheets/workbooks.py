"""The rows of an .xlsx import file: its first sheet, read as values (not formulas).

openpyxl is imported only when a workbook is read, so that reading CSV never loads it.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

from campaigns.tallies.sheets.cells import Cells
from campaigns.tallies.sheets.import_errors import ImportFileError


def xlsx_records(path: Path) -> Generator[Cells, None, None]:
    """The first sheet's rows, numbered as Excel numbers them."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except OSError as error:
        raise ImportFileError(f"{path.name}: cannot read the file ({error.strerror})") from None
    except Exception as error:  # openpyxl raises many kinds on a corrupt or foreign file
        raise ImportFileError(
            f"{path.name}: not a readable .xlsx workbook ({type(error).__name__})"
        ) from None
    try:
        sheet = workbook.worksheets[0]
        # The stored dimensions may be wrong (some tools write A1:A1); read what is there.
        sheet.reset_dimensions()
        yield from sheet.iter_rows(values_only=True)
    except Exception as error:  # a damaged sheet part fails only when it is read
        raise ImportFileError(
            f"{path.name}: not a readable .xlsx workbook ({type(error).__name__})"
        ) from None
    finally:
        workbook.close()
