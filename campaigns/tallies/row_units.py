"""The reporting unit of each imported row: its 单位 cell's text resolved to a unit's code.

The sheets keep the text as written (`AcceptedRows.unit`: they never see the database); the
import resolves each distinct text once against the units kept (`planning.units`), by code or
by name, before anything is published. A text that names no unit (or a name two units share)
is an error of every row holding it, naming the cell as any bad cell is. `import --unit X`
gives X to the rows without a unit cell (or with an empty one); a row naming another unit is
an error. The distinct codes of the rows kept are what the import is the report of.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.errors import InvalidInputError
from campaigns.planning.unit_directory import UnitDirectory
from campaigns.tallies.sheets.accepted import AcceptedRows
from campaigns.tallies.sheets.cells import show
from campaigns.tallies.sheets.import_errors import RowError


@dataclass(frozen=True, slots=True)
class RowUnits:
    """What resolving the rows' units found: errors (one per bad row) and the units used."""

    errors: list[RowError]
    # The distinct unit codes of the rows kept, sorted: the import's `reports_for`.
    codes: list[str]


def resolve_row_units(
    rows: AcceptedRows, directory: UnitDirectory, *, file: str, default: str | None = None
) -> RowUnits:
    """Resolve the rows' unit texts into `rows.unit_codes`, leaving out (`drop`) the rows whose
    unit is unknown or not `default` (the code of `import --unit`); returns their errors."""
    texts = set(rows.unit)
    texts.discard(None)
    if not texts and default is None:
        return RowUnits([], [])
    codes: dict[str | None, str | None] = {None: default}
    wrong: dict[str | None, str] = {}
    for text in texts:
        assert text is not None
        try:
            unit = directory.find(text)
        except InvalidInputError as shared:  # a name two units share: the code is needed
            wrong[text] = str(shared)
            continue
        if unit is None:
            wrong[text] = f"unknown reporting unit {show(text)} (see `campaigns units list`)"
        elif default is not None and unit.code != default:
            wrong[text] = (
                f"{unit.name} ({unit.code}), but the file is imported for"
                f" --unit {directory.name_of(default)} ({default})"
            )
        else:
            codes[text] = unit.code
    errors: list[RowError] = []
    if wrong:
        bad: set[int] = set()
        seen: set[tuple[str | None, int]] = set()
        for position, text in enumerate(rows.unit):
            reason = wrong.get(text)
            if reason is None:
                continue
            bad.add(position)
            sheet, column = rows.unit_cell(position)
            # A wide sheet's row is several tallies: one error for the row.
            if (sheet, rows.row[position]) not in seen:
                seen.add((sheet, rows.row[position]))
                errors.append(RowError(file, rows.row[position], column, reason, sheet))
        rows.drop(bad)
    rows.unit_codes = codes
    used = {codes[text] for text in set(rows.unit)}
    return RowUnits(errors, sorted(code for code in used if code is not None))
