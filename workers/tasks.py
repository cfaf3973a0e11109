"""Tasks: ids in, domain calls out. Each opens its own session; enqueueing waits for commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from campaigns.audit import current_actor
from campaigns.db import session_scope
from campaigns.delivery import claim, record_outcome
from campaigns.dispatcher import compile_and_list, run_dispatch
from campaigns.models import utcnow
from campaigns.planning import get_campaign
from campaigns.sending import send
from campaigns.settings import get_settings
from campaigns.tallies import NewTally, store_tallies
from workers.app import app


@app.task(name="campaigns.dispatch")
def dispatch() -> dict[str, Any]:
    result = run_dispatch(session_scope, now=utcnow())
    for delivery_id in result.deliveries:
        send_delivery.delay(delivery_id)
    return {"opened": result.opened, "closed": result.closed, "reported": result.reported}


@app.task(name="campaigns.compile_summary")
def compile_summary(campaign_id: str) -> None:
    for delivery_id in compile_and_list(
        session_scope, campaign_id, actor=current_actor(), now=utcnow()
    ):
        send_delivery.delay(delivery_id)


@app.task(name="campaigns.send_delivery")
def send_delivery(delivery_id: int) -> None:
    settings = get_settings()
    lease = timedelta(seconds=settings.task_time_limit_seconds)
    with session_scope() as session:
        job = claim(delivery_id, session=session, now=utcnow(), lease=lease)
    if job is None:
        return
    outcome = send(job, settings=settings)
    with session_scope() as session:
        record_outcome(
            delivery_id,
            outcome,
            session=session,
            now=utcnow(),
            max_attempts=settings.delivery_max_attempts,
            backoff_seconds=settings.delivery_backoff_seconds,
            backoff_max_seconds=settings.delivery_backoff_max_seconds,
        )


@app.task(name="campaigns.store_tallies")
def store_tally_chunk(campaign_id: str, tallies: list[dict[str, Any]]) -> int:
    with session_scope() as session:
        campaign = get_campaign(campaign_id, session=session)
        return store_tallies(campaign, [NewTally.from_message(t) for t in tallies], session=session)
