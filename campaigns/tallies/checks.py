"""Whether a campaign takes a tally: its status, its time window, a plausible quantity.

Raised as the errors the CLI shows (`ConflictError`, `InvalidInputError`); `store_chunk` checks
the status again under a lock, as it may have changed since a chunk was published.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from campaigns.errors import ConflictError, InvalidInputError
from campaigns.models import Campaign, CampaignStatus

ACCEPTING = {CampaignStatus.scheduled, CampaignStatus.running, CampaignStatus.closed}


def check_accepting(campaign: Campaign) -> None:
    if campaign.status == CampaignStatus.reported:
        raise ConflictError(
            f"campaign {campaign.id!r} is reported: reopen it first (`campaigns reopen`)"
        )
    if campaign.status not in ACCEPTING:
        raise ConflictError(f"campaign {campaign.id!r} is {campaign.status}: no tallies accepted")


def check_within(campaign: Campaign, occurred_at: datetime, *, where: str) -> None:
    if not campaign.start_at <= occurred_at < campaign.end_at:
        zone = ZoneInfo(campaign.timezone)
        start = campaign.start_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        end = campaign.end_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        shown = occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        raise InvalidInputError(f"{where}: {shown} is outside the campaign ({start} – {end})")


def check_quantity(quantity: int, *, correction: bool, where: str) -> None:
    if correction:
        if quantity == 0:
            raise InvalidInputError(f"{where}: a correction of 0 changes nothing")
    elif quantity <= 0:
        raise InvalidInputError(f"{where}: quantity must be a positive whole number")
    if abs(quantity) > 10**12:
        raise InvalidInputError(f"{where}: quantity {quantity} is implausibly large")
