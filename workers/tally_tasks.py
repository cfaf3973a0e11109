"""Tally tasks: store a published chunk of validated tallies in one transaction."""

from __future__ import annotations

from typing import Any

from campaigns.db import session_scope
from campaigns.planning.campaigns import get_campaign
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_chunk, store_tallies
from workers.app import app


@app.task(name="campaigns.store_tally_chunk")
def store_tally_chunk(campaign_id: str, batch_id: str, seq: int, chunk: dict[str, Any]) -> int:
    """One chunk of a batch (column by column: tallies.encoding); returns how many new."""
    with session_scope() as session:
        return store_chunk(campaign_id, chunk, session=session, batch=(batch_id, seq)).stored


@app.task(name="campaigns.store_tallies")
def store_tally_list(campaign_id: str, tallies: list[dict[str, Any]]) -> int:
    """Tallies one dict each, without a batch: for producers other than the CLI."""
    with session_scope() as session:
        campaign = get_campaign(campaign_id, session=session)
        return store_tallies(campaign, [NewTally.from_message(t) for t in tallies], session=session)
