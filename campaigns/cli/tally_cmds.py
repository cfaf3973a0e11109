"""Commands that record what happened: log, import, correct."""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from campaigns.cli._common import actor, console, session, settings

if TYPE_CHECKING:
    from campaigns.tallies import NewTally

app = typer.Typer(rich_markup_mode=None)


@app.command()
def log(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    metric: Annotated[str, typer.Argument(metavar="METRIC")],
    quantity: Annotated[str, typer.Argument(metavar="QUANTITY")],
    item: Annotated[str | None, typer.Option()] = None,
    venue: Annotated[str | None, typer.Option()] = None,
    at: Annotated[str | None, typer.Option(help="When it happened (default: now).")] = None,
    by: Annotated[str | None, typer.Option(help="Who recorded it.")] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key counts once.")
    ] = None,
    note: Annotated[str | None, typer.Option()] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait until it is counted (0: don't).")
    ] = 30.0,
) -> None:
    """Record one tally: `campaigns log 2019-world-ip-day materials 300`."""
    from campaigns.cli.publish import publish_tallies, wait_for_keys

    tally = _validated(
        campaign_id,
        metric,
        quantity,
        item=item,
        venue=venue,
        at=at,
        by=by,
        key=key,
        note=note,
        correction=False,
        reason=None,
    )
    publish_tallies(campaign_id, [tally], chunk_size=1)
    if wait > 0:
        wait_for_keys(campaign_id, [tally.key], timeout=wait)
        console().print(f"counted: {tally.metric} {tally.quantity} (key {tally.key})")
    else:
        console().print(f"queued: {tally.metric} {tally.quantity} (key {tally.key})")


@app.command()
def correct(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    metric: Annotated[str, typer.Argument(metavar="METRIC")],
    delta: Annotated[str, typer.Argument(metavar="DELTA")],
    reason: Annotated[str, typer.Option(help="Why the figure changes (required).")],
    at: Annotated[str | None, typer.Option()] = None,
    key: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Record a correction: `campaigns correct ID materials -- -20 --reason "counted twice"`."""
    from campaigns.cli.publish import publish_tallies, wait_for_keys

    tally = _validated(
        campaign_id,
        metric,
        delta,
        item=None,
        venue=None,
        at=at,
        by=actor(),
        key=key,
        note=None,
        correction=True,
        reason=reason,
    )
    publish_tallies(campaign_id, [tally], chunk_size=1)
    wait_for_keys(campaign_id, [tally.key], timeout=30)
    console().print(f"corrected: {tally.metric} {tally.quantity:+} ({reason})")


def _validated(
    campaign_id: str,
    metric_name: str,
    quantity_text: str,
    *,
    item: str | None,
    venue: str | None,
    at: str | None,
    by: str | None,
    key: str | None,
    note: str | None,
    correction: bool,
    reason: str | None,
) -> NewTally:
    from campaigns.errors import InvalidInputError
    from campaigns.models import utcnow
    from campaigns.planning import get_campaign, metric_catalogue
    from campaigns.tallies import NewTally, check_accepting, check_quantity, check_within
    from campaigns.when import parse_when

    for what, value in (
        ("--item", item),
        ("--venue", venue),
        ("--by", by),
        ("--note", note),
        ("--key", key),
        ("--reason", reason),
    ):
        if value is not None and (any(ord(c) < 32 for c in value) or len(value) > 500):
            raise InvalidInputError(f"{what}: control characters or over 500 characters")
    if correction and not (reason and reason.strip()):
        raise InvalidInputError("--reason: a correction must say why")
    try:
        quantity = int(quantity_text.strip().replace(",", ""))
    except ValueError:
        raise InvalidInputError(f"QUANTITY {quantity_text!r}: not a whole number") from None
    where = "DELTA" if correction else "QUANTITY"
    check_quantity(quantity, correction=correction, where=f"{where} {quantity}")
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        check_accepting(campaign)
        metric = metric_catalogue(session=s).resolve(metric_name)
    occurred = parse_when(at, zone=ZoneInfo(campaign.timezone)) if at else utcnow()
    if correction and at is None:
        # A correction amends the campaign as a whole; date it inside the campaign.
        occurred = min(max(occurred, campaign.start_at), campaign.end_at - _SECOND)
    check_within(campaign, occurred, where="--at" if at else "now (give --at)")
    return NewTally(
        metric=metric.id,
        quantity=quantity,
        occurred_at=occurred,
        key=key.strip() if key else uuid.uuid4().hex,
        item=item,
        venue=venue,
        recorded_by=by or actor(),
        note=note,
        is_correction=correction,
        reason=reason,
        source="cli",
    )


_SECOND = timedelta(seconds=1)


@app.command("import")
def import_(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    file: Annotated[Path, typer.Argument(metavar="FILE")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only.")] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Store the good rows; bad ones go to a rejects file."),
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until every tally is counted.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 600.0,
) -> None:
    """Import tallies from a CSV or .xlsx file."""
    from campaigns.cli.publish import publish_tallies, wait_for_keys
    from campaigns.errors import InvalidInputError
    from campaigns.importfile import ImportFileError, read_tally_file, write_rejects
    from campaigns.planning import get_campaign, metric_catalogue
    from campaigns.tallies import NewTally, check_accepting

    if not file.is_file():
        raise InvalidInputError(f"{file}: no such file")
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        check_accepting(campaign)
        catalogue = metric_catalogue(session=s)
    try:
        report = read_tally_file(
            file,
            campaign_id=campaign_id,
            catalogue=catalogue,
            timezone=ZoneInfo(campaign.timezone),
            window=(campaign.start_at, campaign.end_at),
        )
    except ImportFileError as exc:
        raise InvalidInputError(str(exc)) from None
    if report.errors:
        for error in report.errors[:50]:
            print(f"campaigns: {error}", file=sys.stderr)
        if len(report.errors) > 50:
            print(f"campaigns: … and {len(report.errors) - 50} more", file=sys.stderr)
        if not skip_invalid:
            raise InvalidInputError(
                f"{file.name}: {len(report.errors)} bad rows; nothing stored "
                "(fix them, or --skip-invalid to store the good rows)"
            )
        rejects = write_rejects(report, file)
        console().print(f"{len(report.errors)} bad rows written to {rejects}")
    midday = campaign.start_at
    tallies = [
        NewTally(
            metric=r.metric,
            quantity=r.quantity,
            occurred_at=r.occurred_at or midday,
            key=r.key,
            item=r.item,
            venue=r.venue,
            recorded_by=r.recorded_by or actor(),
            note=r.note,
            source=f"import:{file.name}"[:200],
        )
        for r in report.rows
    ]
    if dry_run:
        console().print(
            f"{file.name}: {len(tallies)} valid rows, {len(report.errors)} bad "
            "(dry run: nothing stored)"
        )
        return
    publish_tallies(campaign_id, tallies, chunk_size=settings().import_chunk_size)
    console().print(f"{file.name}: {len(tallies)} tallies queued")
    if wait:
        wait_for_keys(campaign_id, [t.key for t in tallies], timeout=timeout)
        console().print(f"{file.name}: all {len(tallies)} counted")
