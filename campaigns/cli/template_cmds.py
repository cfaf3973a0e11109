"""`campaigns template`: the campaign's fill-in 统计表 (.xlsx, wide layout) for the counties."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from campaigns.cli._common import session

app = typer.Typer(rich_markup_mode=None)


@app.command()
def template(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    unit: Annotated[
        str | None,
        typer.Option(help="The reporting unit written in 填报单位 (else left blank to fill in)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write to this .xlsx file (default ID-统计表.xlsx)."),
    ] = None,
) -> None:
    """The fill-in 统计表 of a campaign: one row per activity, one column per metric (the
    observance's headline metrics and those with targets), 合计 row, ready to print."""
    from campaigns.errors import InvalidInputError
    from campaigns.planning.campaigns import get_campaign, local_days, metric_catalogue, targets_of
    from campaigns.planning.observances import get_observance
    from campaigns.tallies.templates import template_metrics, write_template

    if unit is not None and (
        not unit.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in unit)
    ):
        raise InvalidInputError("--unit: give the unit's name, without control characters")
    path = output if output is not None else Path(f"{campaign_id}-统计表.xlsx")
    if path.suffix.lower() != ".xlsx":
        raise InvalidInputError(f"-o {path}: a template is an .xlsx file")
    if not path.parent.is_dir():
        raise InvalidInputError(f"-o {path}: folder {path.parent} does not exist")
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        first, last = local_days(campaign)
        observance = get_observance(campaign.kind)
        metrics = template_metrics(
            observance.headline_metrics if observance else (),
            targets_of(campaign_id, session=s),
            metric_catalogue(session=s),
        )
        title = campaign.title
    data = write_template(title=title, first_day=first, last_day=last, metrics=metrics, unit=unit)
    path.write_bytes(data)
    columns = "、".join(m.zh for m in metrics)
    typer.echo(f"wrote {path} ({len(metrics)} metric columns: {columns}; {len(data):,} bytes)")
