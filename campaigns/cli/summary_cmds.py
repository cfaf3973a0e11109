"""`campaigns summary`, `summaries` and `digest`: the outcome summary in every format,
its stored versions, and the on-demand digest of a year's running campaigns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from campaigns.cli._common import console, session, table

if TYPE_CHECKING:
    from campaigns.summaries.formats import Format
    from campaigns.summaries.prose import Lang

app = typer.Typer(rich_markup_mode=None)

_LANG = Annotated[str, typer.Option(help="zh or en.")]
_FORMAT = Annotated[str, typer.Option("--format", help="text, markdown, html or json.")]
_EXACT = Annotated[bool, typer.Option("--exact", help="Exact figures in the narrative.")]


def _checked(lang: str, format: str) -> tuple[Lang, Format]:
    from campaigns.errors import InvalidInputError

    if lang not in ("zh", "en"):
        raise InvalidInputError(f"--lang {lang!r}: expected zh or en")
    if format not in ("text", "markdown", "html", "json"):
        raise InvalidInputError(f"--format {format!r}: expected text, markdown, html or json")
    return lang, format  # type: ignore[return-value]


@app.command()
def summary(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    lang: _LANG = "zh",
    format: _FORMAT = "text",
    exact: _EXACT = False,
    version: Annotated[
        int | None, typer.Option(help="A stored version (see `campaigns summaries ID`).")
    ] = None,
    chart: Annotated[
        Path | None, typer.Option(help="Also write the daily chart as PNG to this file.")
    ] = None,
) -> None:
    """The outcome summary: the delivered version once reported, else live figures."""
    import json

    from campaigns.errors import NotFoundError
    from campaigns.models import CampaignStatus
    from campaigns.planning.campaigns import get_campaign
    from campaigns.summaries.figures import compile_figures
    from campaigns.summaries.render import render
    from campaigns.summaries.versions import get_summary, latest_summary

    checked_lang, checked_format = _checked(lang, format)
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        if version is not None:
            stored = get_summary(campaign_id, version, session=s)
            if stored is None:
                raise NotFoundError(
                    f"{campaign_id} has no summary version {version} "
                    f"(see `campaigns summaries {campaign_id}`)"
                )
        else:
            stored = latest_summary(campaign_id, session=s)
            if campaign.status != CampaignStatus.reported:
                stored = None
        figures: dict[str, Any] = (
            json.loads(stored.figures) if stored else compile_figures(campaign, session=s)
        )
    if chart is not None:
        _write_chart(figures, chart, checked_lang)
    typer.echo(render(figures, lang=checked_lang, fmt=checked_format, exact=exact), nl=False)


def _write_chart(figures: dict[str, Any], path: Path, lang: Lang) -> None:
    from campaigns.errors import InvalidInputError
    from campaigns.summaries.chart import render_daily_chart
    from campaigns.summaries.render import chart_series, heading

    if not path.parent.is_dir():
        raise InvalidInputError(f"--chart {path}: folder {path.parent} does not exist")
    render_daily_chart(chart_series(figures, lang), title=heading(figures, lang), path=path)


@app.command()
def summaries(campaign_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Stored summaries of a campaign: final versions (and what each changed), then digests."""
    import json
    from zoneinfo import ZoneInfo

    from campaigns.planning.campaigns import get_campaign
    from campaigns.summaries.versions import list_summaries

    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        rows = list_summaries(campaign_id, session=s)
    zone = ZoneInfo(campaign.timezone)
    grid = table("version", "kind", f"compiled ({campaign.timezone})", "changes")
    for row in rows:
        changes = json.loads(row.changes) if row.changes else None
        shown = ""
        if changes:
            parts = [f"{c['metric']}: {c['before']} → {c['after']}" for c in changes["totals"]]
            shown = "; ".join(parts) or "no change in totals"
        figures = json.loads(row.figures)
        kind = "final" if row.final else f"digest {figures.get('day', '')}"
        grid.add_row(
            str(row.version), kind, f"{row.compiled_at.astimezone(zone):%Y-%m-%d %H:%M}", shown
        )
    console().print(grid)


@app.command()
def digest(
    year: Annotated[int, typer.Option(help="Campaigns of this year.")],
    all_started: Annotated[
        bool, typer.Option("--all", help="Also campaigns already closed or reported.")
    ] = False,
    lang: _LANG = "zh",
    format: _FORMAT = "text",
    exact: _EXACT = False,
) -> None:
    """The interim digest of every campaign running this year, as of now (nothing is sent)."""
    from datetime import date, datetime

    from campaigns.models import CampaignStatus
    from campaigns.settings import get_settings
    from campaigns.summaries.render import render_many
    from campaigns.summaries.versions import year_digest

    checked_lang, checked_format = _checked(lang, format)
    statuses = (
        (CampaignStatus.running, CampaignStatus.closed, CampaignStatus.reported)
        if all_started
        else (CampaignStatus.running,)
    )
    with session() as s:
        items = year_digest(year, session=s, statuses=statuses)
    today = datetime.now(get_settings().zone).date()
    if items:
        today = max(date.fromisoformat(f["day"]) for f in items)
    if checked_lang == "zh":
        title = f"{year}年宣传活动阶段性统计（截至{today.month}月{today.day}日）"
    else:
        title = f"Publicity campaigns {year}: digest as of {today.day} {today:%B %Y}"
    typer.echo(
        render_many(title, items, lang=checked_lang, fmt=checked_format, exact=exact), nl=False
    )
