"""The CLI's side of the broker: publish work for the workers, and wait for it when asked."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from campaigns.cli._common import console, session
from campaigns.errors import CampaignsError

if TYPE_CHECKING:
    from celery import Celery

    from campaigns.tallies import NewTally


def celery_app() -> Celery:
    from workers.app import app

    return app


def publish_tallies(
    campaign_id: str,
    tallies: Sequence[NewTally],
    *,
    chunk_size: int,
    on_chunk: Callable[[int], None] | None = None,
) -> None:
    app = celery_app()
    with app.producer_or_acquire() as producer:
        for start in range(0, len(tallies), chunk_size):
            chunk = tallies[start : start + chunk_size]
            app.send_task(
                "campaigns.store_tallies",
                args=[campaign_id, [t.to_message() for t in chunk]],
                producer=producer,
            )
            if on_chunk:
                on_chunk(len(chunk))


def wait_for_keys(
    campaign_id: str,
    keys: Sequence[str],
    *,
    timeout: float,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Wait until every key is stored; returns how many are."""
    from campaigns.tallies import stored_keys

    pending = list(keys)
    deadline = time.monotonic() + timeout
    while True:
        with session() as s:
            found = stored_keys(campaign_id, pending, session=s)
        pending = [k for k in pending if k not in found]
        if on_progress:
            on_progress(len(keys) - len(pending))
        if not pending:
            return len(keys)
        if time.monotonic() > deadline:
            raise CampaignsError(
                f"{len(pending)} of {len(keys)} tallies not counted after {timeout:.0f} s: "
                "they are queued; is a worker running (`campaigns serve` or `campaigns worker`)?"
            )
        time.sleep(0.2)


def enqueue_compile(campaign_id: str) -> None:
    from campaigns.broker import BrokerUnavailableError

    try:
        celery_app().send_task("campaigns.compile_summary", args=[campaign_id])
    except BrokerUnavailableError:
        console().print("no broker running: the summary follows when `campaigns serve` runs")


def wait_for_delivery(campaign_id: str, *, timeout: float) -> None:
    from campaigns.delivery import list_deliveries
    from campaigns.models import CampaignStatus, DeliveryStatus
    from campaigns.planning import get_campaign

    deadline = time.monotonic() + timeout
    settled = {DeliveryStatus.sent, DeliveryStatus.failed, DeliveryStatus.unknown}
    while time.monotonic() < deadline:
        with session() as s:
            campaign = get_campaign(campaign_id, session=s)
            rows: list[Any] = list_deliveries(session=s, campaign_id=campaign_id)
        if campaign.status == CampaignStatus.reported:
            latest = max((r.version for r in rows), default=0)
            current = [r for r in rows if r.version == latest]
            if all(r.delivery.status in settled for r in current):
                sent = sum(r.delivery.status == DeliveryStatus.sent for r in current)
                console().print(f"summary delivered: {sent} of {len(current)} sent")
                return
        time.sleep(0.3)
    raise CampaignsError(f"{campaign_id}: summary not delivered after {timeout:.0f} s")
