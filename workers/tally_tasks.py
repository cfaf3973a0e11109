"""Tally tasks: store a published chunk of validated tallies in one transaction, and sweep."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from campaigns.db import session_scope
from campaigns.planning.campaigns import get_campaign
from campaigns.planning.participants import chunks_waiting
from campaigns.settings import get_settings
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_chunk, store_tallies
from campaigns.tallies.sweeper import lost_chunks
from workers.app import app
from workers.summary_tasks import compile_summary

_LIMIT = get_settings().chunk_time_limit_seconds
# The soft limit rolls the chunk back and retries it; the hard one, if the soft one did
# not end it, leaves it to the sweeper.
_CHUNK_LIMITS: dict[str, Any] = {"time_limit": _LIMIT, "soft_time_limit": max(_LIMIT - 5, 1)}


@app.task(name="campaigns.store_tally_chunk", **_CHUNK_LIMITS)
def store_tally_chunk(campaign_id: str, batch_id: str, seq: int, chunk: dict[str, Any]) -> int:
    """One chunk of a batch (column by column: tallies.encoding); returns how many new.

    The last chunk of a unit's report may complete a closed campaign's reports, and the last
    chunk still waiting may be all a closed campaign's summary waited for: its compile is
    then queued at once, not at the next dispatcher pass (the compile checks whether it is
    due all the same), and only after the commit, so that it sees what this chunk stored.
    """
    with session_scope() as session:
        outcome = store_chunk(campaign_id, chunk, session=session, batch=(batch_id, seq))
    # Only a closed campaign's chunk asks whether others still wait (a running one's never).
    settled = outcome.closed and not outcome.repeated
    if settled and (outcome.reported or _nothing_waiting(campaign_id)):
        compile_summary.delay(campaign_id)
    return outcome.stored


def _nothing_waiting(campaign_id: str) -> bool:
    with session_scope() as session:
        return chunks_waiting(campaign_id, session=session) == 0


@app.task(name="campaigns.store_tallies", **_CHUNK_LIMITS)
def store_tally_list(campaign_id: str, tallies: list[dict[str, Any]]) -> int:
    """Tallies one dict each, without a batch: for producers other than the CLI."""
    with session_scope() as session:
        campaign = get_campaign(campaign_id, session=session)
        return store_tallies(campaign, [NewTally.from_message(t) for t in tallies], session=session)


@app.task(name="campaigns.sweep_tallies", **_CHUNK_LIMITS)
def sweep_tallies(published_at: str) -> int:
    """Publish again the chunks handed out before this sweep and never stored (tallies.sweeper)."""
    older_than = timedelta(seconds=get_settings().sweep_after_seconds)
    with session_scope() as session:
        lost = lost_chunks(
            session=session,
            handed_out_before=datetime.fromisoformat(published_at),
            older_than=older_than,
        )
    # Only now, with the re-publication times committed.
    for chunk in lost:
        store_tally_chunk.delay(chunk.campaign_id, chunk.batch_id, chunk.seq, chunk.chunk)
    return len(lost)
