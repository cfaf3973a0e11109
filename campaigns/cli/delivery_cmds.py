"""Delivery commands: `deliveries` (status table) and `resend`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from campaigns.cli._common import actor, console, session, settings, table

if TYPE_CHECKING:
    from datetime import datetime

app = typer.Typer(rich_markup_mode=None)


def _local(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(settings().zone).strftime("%m-%d %H:%M:%S")


@app.command()
def deliveries(
    campaign_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
) -> None:
    """Delivery status of every summary (or one campaign's), times in local time."""
    from campaigns.delivery.deliveries import list_deliveries
    from campaigns.delivery.recipients import shown_address
    from campaigns.models import DeliveryStatus

    with session() as s:
        rows = list_deliveries(session=s, campaign_id=campaign_id)
    grid = table("id", "campaign", "what", "recipient", "status", "tries", "when", "last error")
    for row in rows:
        d = row.delivery
        when = ""
        if d.status == DeliveryStatus.sent:
            when = _local(d.sent_at)
        elif d.status == DeliveryStatus.retrying:
            when = "next try " + _local(d.next_attempt_at)
        grid.add_row(
            str(d.id),
            row.campaign_id,
            row.what,
            shown_address(row.recipient.channel, row.recipient.address),
            d.status,
            str(d.attempts),
            when,
            # Errors are built without secrets (redacted URLs, scrubbed server text).
            d.last_error or "",
        )
    console().print(grid)


@app.command()
def resend(delivery_id: Annotated[int, typer.Argument(metavar="DELIVERY")]) -> None:
    """Send a failed or unknown delivery again (recorded in the event log)."""
    from campaigns.cli.publish import celery_app
    from campaigns.delivery.deliveries import resend as resend_delivery
    from campaigns.runtime.broker import BrokerUnavailableError

    with session() as s:
        delivery = resend_delivery(delivery_id, session=s, actor=actor())
    try:
        celery_app().send_task("campaigns.send_delivery", args=[delivery.id])
    except BrokerUnavailableError:
        # The row is queued: the dispatcher picks it up once the workers run.
        console().print(f"delivery {delivery_id} queued again; it goes when the workers run")
        return
    console().print(f"delivery {delivery_id} queued again")
