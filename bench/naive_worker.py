"""The naive path of bench/ingest.py: one Celery task per tally, one row per commit, written
the way a newcomer would (ORM objects, look up the key first, then the rollup row).

Run by the benchmark as `celery -A bench.naive_worker worker`; not part of the product.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select

from campaigns.db import session_scope
from campaigns.models import Campaign, DayRollup, Tally, VenueRollup, utcnow
from workers.app import app

__all__ = ["app", "store_one"]


@app.task(name="bench.store_one")
def store_one(campaign_id: str, tally: dict[str, Any]) -> bool:
    with session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        exists = session.exec(
            select(Tally).where(Tally.campaign_id == campaign_id, Tally.key == tally["key"])
        ).first()
        if exists is not None:
            return False
        occurred = datetime.fromisoformat(tally["occurred_at"])
        day = occurred.astimezone(ZoneInfo(campaign.timezone)).date()
        session.add(
            Tally(
                campaign_id=campaign_id,
                metric=tally["metric"],
                quantity=tally["quantity"],
                item=tally["item"],
                venue=tally["venue"],
                occurred_at=occurred,
                day=day,
                recorded_by=tally["recorded_by"],
                key=tally["key"],
                source="naive",
                created_at=utcnow(),
            )
        )
        venue = tally["venue"] or ""
        by_day = session.get(DayRollup, (campaign_id, tally["metric"], day, False))
        if by_day is None:
            by_day = DayRollup(
                campaign_id=campaign_id,
                metric=tally["metric"],
                day=day,
                is_correction=False,
                total=0,
                tallies=0,
            )
        by_day.total += tally["quantity"]
        by_day.tallies += 1
        session.add(by_day)
        by_venue = session.get(VenueRollup, (campaign_id, tally["metric"], venue))
        if by_venue is None:
            by_venue = VenueRollup(
                campaign_id=campaign_id, metric=tally["metric"], venue=venue, total=0, tallies=0
            )
        by_venue.total += tally["quantity"]
        by_venue.tallies += 1
        session.add(by_venue)
    return True
