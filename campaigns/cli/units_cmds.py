"""`campaigns units import | list | add | remove`: the reporting units (单位) and their tree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from campaigns.cli._common import actor, console, session, table

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or .xlsx: 编码, 名称, 上级…")],
) -> None:
    """Create or update units from a file (columns 编码/code, 名称/name, 上级/parent, 联系方式)."""
    from campaigns.planning.units import UnitRow, import_units
    from campaigns.tallies.sheets.unit_list import read_unit_list

    lines = read_unit_list(path)
    rows = [UnitRow(u.code, u.name, u.parent, u.contact, u.where) for u in lines]
    with session() as s:
        created, updated = import_units(rows, session=s, actor=actor())
    unchanged = len(rows) - len(created) - len(updated)
    console().print(
        f"单位：新增{len(created)}个，更新{len(updated)}个，未变{unchanged}个"
        f" (units: {len(created)} created, {len(updated)} updated, {unchanged} unchanged)"
    )


@app.command("list")
def list_() -> None:
    """The units as an indented tree, with their contact (robot tokens hidden)."""
    from campaigns.delivery.recipients import contact_channel, shown_address
    from campaigns.planning.units import load_directory

    with session() as s:
        directory = load_directory(session=s)
    if not len(directory):
        console().print("还没有单位：campaigns units import FILE (no units yet)")
        return
    grid = table("单位 unit", "编码 code", "联系方式 contact")
    for unit, depth in directory.walk():
        channel = contact_channel(unit.contact) if unit.contact else None
        shown = shown_address(channel.value, unit.contact) if channel and unit.contact else ""
        grid.add_row("  " * depth + unit.name, unit.code, shown)
    console().print(grid)


@app.command()
def add(
    code: Annotated[str, typer.Argument(help="Stable id, e.g. the 6-digit county code.")],
    name: Annotated[str, typer.Argument(help="Its name, e.g. 浚县.")],
    parent: Annotated[str | None, typer.Option(help="The unit above (code or name).")] = None,
    contact: Annotated[
        str | None, typer.Option(help="Email address or robot URL for reminders.")
    ] = None,
) -> None:
    """Add one unit (or update it: the same as a one-row import)."""
    from campaigns.planning.units import UnitRow, import_units

    with session() as s:
        created, updated = import_units(
            [UnitRow(code, name, parent, contact, "units add")], session=s, actor=actor()
        )
    state = "added" if created else "updated" if updated else "unchanged"
    console().print(f"{name} ({code}) {state}")


@app.command()
def remove(unit: Annotated[str, typer.Argument(metavar="CODE|NAME")]) -> None:
    """Remove a unit no tally, campaign or sub-unit uses."""
    from campaigns.planning.units import remove_unit

    with session() as s:
        removed = remove_unit(unit, session=s, actor=actor())
    console().print(f"removed {removed.name} ({removed.code})")
