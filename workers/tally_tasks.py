"""Tally tasks: store a published chunk of validated tallies in one transaction."""

from __future__ import annotations

from typing import Any

from campaigns.db import session_scope
from campaigns.planning import get_campaign
from campaigns.tallies import NewTally, store_tallies
from workers.app import app


@app.task(name="campaigns.store_tallies")
def store_tally_chunk(campaign_id: str, tallies: list[dict[str, Any]]) -> int:
    with session_scope() as session:
        campaign = get_campaign(campaign_id, session=session)
        return store_tallies(campaign, [NewTally.from_message(t) for t in tallies], session=session)
