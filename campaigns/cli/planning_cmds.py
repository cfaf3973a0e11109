"""Commands that plan and steer campaigns: init, calendar, create, list, show, close."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from campaigns.cli._common import actor, console, session, settings, table

if TYPE_CHECKING:
    from campaigns.planning.observances import CalendarEntry

app = typer.Typer(rich_markup_mode=None)


@app.command()
def init() -> None:
    """Create or upgrade the database."""
    from campaigns.db import upgrade_database

    upgrade_database()
    console().print(f"database ready: {_shown_database()}")


def _shown_database() -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings().database_url_value).render_as_string(hide_password=True)


@app.command()
def calendar(
    year: int,
    apply: Annotated[bool, typer.Option("--apply", help="Create the campaigns.")] = False,
    sci_tech_week: Annotated[
        str | None, typer.Option(help="This year's dates, START:END (e.g. 2019-05-19:2019-05-26).")
    ] = None,
    ics: Annotated[Path | None, typer.Option(help="Also write an iCalendar file.")] = None,
    units: Annotated[
        str | None, typer.Option(help="--apply: these reporting units take part in each.")
    ] = None,
    units_under: Annotated[
        str | None, typer.Option(help="--apply: every unit directly under this one takes part.")
    ] = None,
) -> None:
    """Show (or --apply: create) the year's four observances."""
    from campaigns.planning.observances import parse_day_range, year_calendar

    override = parse_day_range(sci_tech_week, what="--sci-tech-week") if sci_tech_week else None
    if (units or units_under) and not apply:
        from campaigns.errors import InvalidInputError

        raise InvalidInputError("--units and --units-under go with --apply")
    entries = year_calendar(year, sci_tech_week=override)
    created: dict[str, bool] = {}
    if apply:
        from campaigns.planning.campaigns import apply_calendar

        with session() as s:
            for entry, was_created in apply_calendar(
                year,
                session=s,
                actor=actor(),
                timezone=settings().timezone,
                sci_tech_week=override,
                units=_unit_list(units),
                units_under=units_under,
                report_days=settings().report_days,
            ):
                created[entry.campaign_id] = was_created
    if ics is not None:
        _write_calendar(year, entries, ics)
    grid = table("id", "观察日 observance", "first day", "last day", "rule")
    if apply:
        grid.add_column("status")
    for entry in entries:
        row = [
            entry.campaign_id,
            entry.observance.zh,
            str(entry.first_day),
            str(entry.last_day),
            entry.observance.rule_zh,
        ]
        if apply:
            row.append("created" if created[entry.campaign_id] else "exists")
        grid.add_row(*row)
    console().print(grid)


def _write_calendar(year: int, entries: list[CalendarEntry], path: Path) -> None:
    """The year's campaigns as stored, plus the observances not created yet."""
    from campaigns.planning.campaigns import list_campaigns
    from campaigns.planning.ical import events_from_calendar, events_from_campaigns, write_ics

    with session() as s:
        stored = list_campaigns(session=s, year=year)
    known = {c.id for c in stored}
    events = events_from_campaigns(stored)
    events += events_from_calendar(e for e in entries if e.campaign_id not in known)
    write_ics(
        sorted(events, key=lambda e: (e.first_day, e.campaign_id)), path, zone=settings().zone
    )
    console().print(f"wrote {len(events)} events to {path}")


@app.command()
def create(
    kind: str,
    year: Annotated[int, typer.Option(help="Year of the campaign.")],
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
    title: Annotated[str | None, typer.Option()] = None,
    venue: Annotated[str | None, typer.Option()] = None,
    partners: Annotated[
        str | None, typer.Option(help="Who it is held with, e.g. 市市场监管局 (year's report).")
    ] = None,
    forms: Annotated[
        str | None,
        typer.Option(help="How, e.g. 法律宣传进社区、现场咨询 (year's report)."),
    ] = None,
    target: Annotated[list[str] | None, typer.Option(help="METRIC=N, repeatable.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="Default YEAR-KIND.")] = None,
    units: Annotated[
        str | None, typer.Option(help="Reporting units taking part: codes or names, a,b,c.")
    ] = None,
    units_under: Annotated[
        str | None, typer.Option(help="Every unit directly under this one takes part.")
    ] = None,
    report_by: Annotated[
        str | None,
        typer.Option(help="Last day reports are accepted, YYYY-MM-DD (default: end + 3 days)."),
    ] = None,
) -> None:
    """Schedule a campaign."""
    from campaigns.planning.campaigns import CampaignSpec, create_campaign, parse_targets
    from campaigns.planning.observances import parse_day

    spec = CampaignSpec(
        kind=kind.strip(),
        year=year,
        first_day=parse_day(start, what="--start") if start else None,
        last_day=parse_day(end, what="--end") if end else None,
        title=_clean(title, "--title"),
        venue=_clean(venue, "--venue"),
        partners=_clean(partners, "--partners"),
        activity_forms=_clean(forms, "--forms"),
        targets=parse_targets(target or []),
        campaign_id=id,
        timezone=settings().timezone,
        units=_unit_list(units),
        units_under=units_under,
        report_by_day=parse_day(report_by, what="--report-by") if report_by else None,
        report_days=settings().report_days,
    )
    with session() as s:
        campaign = create_campaign(spec, session=s, actor=actor())
        console().print(f"created {campaign.id}: {campaign.title} ({campaign.status})")
        if campaign.report_by is not None:
            from campaigns.planning.participants import participant_codes

            count = len(participant_codes(campaign.id, session=s))
            deadline = _local_minute(campaign.report_by, campaign.timezone)
            console().print(f"参与单位{count}个，填报截止{deadline} ({count} units, report by)")


def _unit_list(text: str | None) -> list[str]:
    """`--units 浚县,淇县` (a Chinese comma or 、 works too)."""
    if not text:
        return []
    for separator in ("，", "、"):
        text = text.replace(separator, ",")
    return [name.strip() for name in text.split(",") if name.strip()]


def _local_minute(moment: datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    from campaigns.planning.participants import deadline_text

    return deadline_text(moment, ZoneInfo(timezone))


def _clean(text: str | None, what: str) -> str | None:
    from campaigns.errors import InvalidInputError

    if text is None:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInputError(f"{what}: control characters (e.g. line breaks) are not allowed")
    if len(text) > 200:
        raise InvalidInputError(f"{what}: longer than 200 characters")
    return text.strip() or None


@app.command("list")
def list_(
    year: Annotated[int | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
) -> None:
    """List campaigns."""
    from campaigns.planning.campaigns import list_campaigns, local_days

    with session() as s:
        campaigns = list_campaigns(session=s, year=year, status=status)
        grid = table("id", "title", "first day", "last day", "status")
        for c in campaigns:
            first, last = local_days(c)
            grid.add_row(c.id, c.title, str(first), str(last), c.status)
    console().print(grid)


@app.command()
def show(campaign_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """A campaign: dates, status, targets and running totals (times in its timezone)."""
    from zoneinfo import ZoneInfo

    from campaigns.planning.campaigns import get_campaign, local_days, metric_catalogue, targets_of
    from campaigns.planning.participants import progress_of
    from campaigns.planning.units import load_directory
    from campaigns.summaries.versions import latest_summary
    from campaigns.tallies.totals import totals

    with session() as s:
        c = get_campaign(campaign_id, session=s)
        first, last = local_days(c)
        catalogue = metric_catalogue(session=s)
        sums = totals(c.id, session=s)
        targets = targets_of(c.id, session=s)
        latest = latest_summary(c.id, session=s)
        progress = progress_of(c, session=s, directory=load_directory(session=s))
    console().print(f"[bold]{c.id}[/bold]  {c.title}")
    console().print(f"{first} – {last} ({c.timezone})  status: {c.status}")
    if c.venue:
        console().print(f"venue: {c.venue}")
    if progress.participants:
        deadline = _local_minute(progress.deadline, c.timezone)
        missing = "、".join(p.name for p in progress.missing)
        line = f"报送：{progress.line('zh')}；填报截止 {deadline}"
        console().print(line + (f"；未报送：{missing}" if missing else ""), markup=False)
        console().print(f"reporting: {progress.line('en')}, report by {deadline}")
    if latest:
        compiled = latest.compiled_at.astimezone(ZoneInfo(c.timezone))
        console().print(f"summary: version {latest.version}, compiled {compiled:%Y-%m-%d %H:%M}")
    grid = table("metric", "指标", "total", "unit", "tallies", "corrections", "target")
    for metric_id in sorted(set(sums) | set(targets)):
        m = catalogue.get(metric_id)
        t = sums.get(metric_id)
        grid.add_row(
            metric_id,
            m.zh,
            str(t.total if t else 0),
            m.unit_zh,
            str(t.tallies if t else 0),
            str(t.corrections if t else 0),
            str(targets.get(metric_id, "")),
        )
    console().print(grid)


@app.command()
def close(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the summary is delivered.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 300.0,
    report_now: Annotated[
        bool,
        typer.Option(
            "--report-now",
            help="Stop waiting for the units' reports: the summary now, naming who is missing.",
        ),
    ] = False,
) -> None:
    """Close a campaign now; workers compile and deliver its summary (with participants,
    once all have reported or at the report-by deadline)."""
    from campaigns.models import utcnow
    from campaigns.planning.lifecycle import close_campaign
    from campaigns.planning.lifecycle import report_now as stop_waiting
    from campaigns.planning.participants import progress_of, summary_due
    from campaigns.planning.units import load_directory

    with session() as s:
        campaign = close_campaign(campaign_id, session=s, actor=actor())
        if report_now:
            campaign = stop_waiting(campaign_id, session=s, actor=actor())
        due = summary_due(campaign, session=s, now=utcnow())
        progress = progress_of(campaign, session=s, directory=load_directory(session=s))
    console().print(f"{campaign.id} is {campaign.status}")
    from campaigns.cli.publish import enqueue_compile, wait_for_delivery

    if progress.participants and not due and campaign.status == "closed":
        deadline = _local_minute(progress.deadline, campaign.timezone)
        console().print(
            f"汇总待全部单位报送或填报截止（{deadline}）后生成：{progress.line('zh')}"
            f" (the summary follows once all have reported, or at the deadline)"
        )
        return
    enqueue_compile(campaign_id)
    if wait:
        wait_for_delivery(campaign_id, timeout=timeout)


@app.command()
def reopen(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the event log).")],
) -> None:
    """Take late tallies for a reported campaign; its next summary is a new version."""
    from campaigns.planning.lifecycle import reopen_campaign

    with session() as s:
        campaign = reopen_campaign(campaign_id, session=s, actor=actor(), reason=reason)
    console().print(f"{campaign.id} is {campaign.status} again")


@app.command()
def cancel(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the event log).")],
) -> None:
    """Cancel a campaign that has not closed."""
    from campaigns.planning.lifecycle import cancel_campaign

    with session() as s:
        campaign = cancel_campaign(campaign_id, session=s, actor=actor(), reason=reason)
    console().print(f"{campaign.id} is {campaign.status}")
