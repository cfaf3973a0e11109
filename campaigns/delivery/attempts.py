"""One delivery attempt, from claim to recorded outcome, with the network outside any transaction.

An attempt (`attempt_delivery`) is three steps with the network in the middle and never
inside a transaction:

    claim()          queued/retrying → sending      (row locked, attempts + 1, committed)
    send()           SMTP / outbox / chat robot      (campaigns.delivery.sending, no database)
      hand-over      data_sent_at committed just before the message can no longer be
                     taken back (before SMTP's final ".", the robot POST, the outbox rename)
    record_outcome() sending → sent | retrying (next_attempt_at) | failed | unknown

The row's side of each step, and the fencing that keeps a replaced attempt from sending
or recording, is in `campaigns.delivery.transitions`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from sqlmodel import Session

from campaigns.delivery.sending import HandoverRefused, Outcome
from campaigns.delivery.transitions import claim, mark_data_sent, record_outcome
from campaigns.models import Delivery, DeliveryStatus, utcnow
from campaigns.settings import Settings

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]


def attempt_delivery(
    delivery_id: int,
    *,
    sessions: SessionFactory,
    settings: Settings,
    task_id: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Delivery | None:
    """One attempt, from claim to recorded outcome; None when there was nothing to do.

    What the attempt ended as is in the returned row (`status`, `next_attempt_at`).
    """
    from campaigns.delivery.sending import send

    with sessions() as session:
        job = claim(
            delivery_id,
            session=session,
            now=clock(),
            lease=timedelta(seconds=settings.task_time_limit_seconds),
            max_attempts=settings.delivery_max_attempts,
            task_id=task_id,
        )
    if job is None:
        return None
    handed_over = False

    def hand_over() -> None:
        nonlocal handed_over
        with sessions() as session:
            if not mark_data_sent(job, session=session, now=clock()):
                raise HandoverRefused(f"delivery {delivery_id} attempt {job.attempt}")
        handed_over = True

    try:
        outcome = send(job, settings=settings, hand_over=hand_over)
    except HandoverRefused:
        log.warning("delivery %s: attempt %s lost its claim, not sent", delivery_id, job.attempt)
        return None
    except Exception as exc:
        # Only the type: the message of an unexpected error might quote an address or URL.
        reason = f"the attempt stopped: {type(exc).__name__}"
        log.error("delivery %s: attempt %s: %s", delivery_id, job.attempt, reason)
        outcome = Outcome(
            DeliveryStatus.unknown if handed_over else DeliveryStatus.retrying, reason
        )
    with sessions() as session:
        return record_outcome(
            job,
            outcome,
            session=session,
            now=clock(),
            max_attempts=settings.delivery_max_attempts,
            backoff_seconds=settings.delivery_backoff_seconds,
            backoff_max_seconds=settings.delivery_backoff_max_seconds,
        )
