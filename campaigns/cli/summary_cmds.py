"""`campaigns summary`: the outcome summary in every format."""

from __future__ import annotations

from typing import Annotated

import typer

from campaigns.cli._common import session

app = typer.Typer(rich_markup_mode=None)


@app.command()
def summary(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    lang: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    format: Annotated[str, typer.Option("--format", help="text, markdown, html or json.")] = "text",
    exact: Annotated[bool, typer.Option("--exact", help="Exact figures in the narrative.")] = False,
) -> None:
    """The outcome summary: the delivered version once reported, else live figures."""
    import json

    from campaigns.errors import InvalidInputError
    from campaigns.models import CampaignStatus
    from campaigns.planning import get_campaign
    from campaigns.render import render
    from campaigns.summary import compile_figures, latest_summary

    if lang not in ("zh", "en"):
        raise InvalidInputError(f"--lang {lang!r}: expected zh or en")
    if format not in ("text", "markdown", "html", "json"):
        raise InvalidInputError(f"--format {format!r}: expected text, markdown, html or json")
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        stored = latest_summary(campaign_id, session=s)
        if stored is not None and campaign.status == CampaignStatus.reported:
            figures = json.loads(stored.figures)
        else:
            figures = compile_figures(campaign, session=s)
    typer.echo(render(figures, lang=lang, fmt=format, exact=exact), nl=False)  # type: ignore[arg-type]
