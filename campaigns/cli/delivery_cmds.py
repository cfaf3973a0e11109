"""Delivery commands: `deliveries` (status table) and `resend`."""

from __future__ import annotations

from typing import Annotated

import typer

from campaigns.cli._common import actor, console, session, table

app = typer.Typer(rich_markup_mode=None)


@app.command()
def deliveries(
    campaign_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
) -> None:
    """Delivery status of every summary (or one campaign's)."""
    from campaigns.delivery import list_deliveries
    from campaigns.recipients import shown_address

    with session() as s:
        rows = list_deliveries(session=s, campaign_id=campaign_id)
    grid = table(
        "id", "campaign", "version", "recipient", "channel", "status", "attempts", "last error"
    )
    for row in rows:
        d = row.delivery
        grid.add_row(
            str(d.id),
            row.campaign_id,
            str(row.version),
            shown_address(row.recipient.channel, row.recipient.address),
            d.channel,
            d.status,
            str(d.attempts),
            (d.last_error or "")[:80],
        )
    console().print(grid)


@app.command()
def resend(delivery_id: Annotated[int, typer.Argument(metavar="DELIVERY")]) -> None:
    """Send a failed or unknown delivery again (recorded in the event log)."""
    from campaigns.cli.publish import celery_app
    from campaigns.delivery import resend as resend_delivery

    with session() as s:
        delivery = resend_delivery(delivery_id, session=s, actor=actor())
    celery_app().send_task("campaigns.send_delivery", args=[delivery.id])
    console().print(f"delivery {delivery_id} queued again")
