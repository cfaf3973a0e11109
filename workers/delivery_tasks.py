"""Delivery tasks: one attempt per message, claimed and recorded around the network call."""

from __future__ import annotations

from datetime import timedelta

from campaigns.db import session_scope
from campaigns.delivery import claim, record_outcome
from campaigns.models import utcnow
from campaigns.sending import send
from campaigns.settings import get_settings
from workers.app import app


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
