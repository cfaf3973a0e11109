"""Delivering each summary version exactly once to each recipient, or saying honestly why not.

One `Delivery` row per (summary, recipient, channel) is created in the transaction that
stores the summary, its Message-ID fixed there. An attempt (`attempt_delivery`) is three
steps with the network in the middle and never inside a transaction:

    claim()          queued/retrying → sending      (row locked, attempts + 1, committed)
    send()           SMTP / outbox / chat robot      (campaigns.delivery.sending, no database)
      hand-over      data_sent_at committed just before the message can no longer be
                     taken back (before SMTP's final ".", the robot POST, the outbox rename)
    record_outcome() sending → sent | retrying (next_attempt_at) | failed | unknown

The attempt number and the claim (`claimed_by`: the task id, or a random token) are the
fencing token: the hand-over and the outcome only apply while the row still holds both,
so an attempt that was given up for dead and replaced can neither send nor overwrite its
successor's result.

A row found still `sending` belongs to an attempt that died when its own task comes back
(a broker redelivery after the worker was killed) or its lease (`next_attempt_at` while
`sending`) has run out. If it died before the hand-over nothing can have left, and it is
tried again at once; after the hand-over the recipient may have the message, so it is
`unknown` and only an explicit `resend` sends it again.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import update
from sqlmodel import Session, col, or_, select

from campaigns.audit import record_event
from campaigns.delivery.recipients import list_recipients
from campaigns.delivery.sending import DeliveryJob, HandoverRefused, Outcome
from campaigns.errors import ConflictError, NotFoundError
from campaigns.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Recipient,
    Summary,
    utcnow,
)
from campaigns.settings import Settings, get_settings

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]

_CLAIMABLE = (DeliveryStatus.queued, DeliveryStatus.retrying)
_MAX_ERROR = 1000


def create_deliveries(summary: Summary, *, session: Session, now: datetime) -> list[Delivery]:
    from campaigns.delivery.mail import make_message_id

    domain = _message_id_domain(get_settings().mail_from)
    deliveries = []
    for recipient in list_recipients(session=session, campaign_id=summary.campaign_id):
        assert recipient.id is not None and summary.id is not None
        delivery = Delivery(
            summary_id=summary.id,
            recipient_id=recipient.id,
            channel=recipient.channel,
            status=DeliveryStatus.queued,
            # Fixed before the first attempt, so a resent message is recognisably the same one.
            message_id=make_message_id(domain),
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        deliveries.append(delivery)
    session.flush()
    return deliveries


def _message_id_domain(mail_from: str) -> str:
    domain = parseaddr(mail_from)[1].rpartition("@")[2]
    plain = domain and all(c.isalnum() or c in ".-" for c in domain) and domain.isascii()
    return domain if plain else "campaigns.local"


def claim(
    delivery_id: int,
    *,
    session: Session,
    now: datetime,
    lease: timedelta,
    max_attempts: int,
    task_id: str | None = None,
) -> DeliveryJob | None:
    """Take the delivery for one attempt, or None when there is nothing (more) to do now.

    `task_id` names the broker task making the claim: finding the row `sending` under
    the same task id means this task was redelivered after its earlier run died.
    """
    delivery = session.exec(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).first()
    if delivery is None:
        return None
    recovered = False
    if delivery.status == DeliveryStatus.sending:
        lease_live = _later(delivery.next_attempt_at, now)
        redelivered = task_id is not None and delivery.claimed_by == task_id
        if lease_live and not redelivered:
            return None  # another attempt is in flight
        if delivery.data_sent_at is not None:
            _judge(
                delivery,
                DeliveryStatus.unknown,
                "the attempt stopped after the message was handed over: it may have been"
                " delivered; `campaigns resend` sends it again",
                session=session,
                now=now,
            )
            return None
        recovered = True
    elif delivery.status not in _CLAIMABLE or _later(delivery.next_attempt_at, now):
        return None
    if delivery.attempts >= max_attempts:
        # Also ends a task that keeps killing its worker before the hand-over.
        _judge(
            delivery,
            DeliveryStatus.failed,
            f"gave up after {delivery.attempts} attempts"
            + (f"; last: {delivery.last_error}" if delivery.last_error else ""),
            session=session,
            now=now,
        )
        return None
    recipient = session.get(Recipient, delivery.recipient_id)
    summary = session.get(Summary, delivery.summary_id)
    assert recipient is not None and summary is not None and delivery.message_id is not None
    if recovered:
        delivery.last_error = "an earlier attempt stopped before the message was handed over"
    delivery.status = DeliveryStatus.sending
    delivery.attempts += 1
    delivery.next_attempt_at = now + lease
    delivery.claimed_by = task_id or uuid.uuid4().hex
    delivery.data_sent_at = None
    delivery.updated_at = now
    session.add(delivery)
    return DeliveryJob(
        delivery_id=delivery_id,
        channel=delivery.channel,
        address=recipient.address,
        name=recipient.name,
        secret_env=recipient.secret_env,
        message_id=delivery.message_id,
        attempt=delivery.attempts,
        claim=delivery.claimed_by,
        summary_version=summary.version,
        figures=json.loads(summary.figures),
    )


def _later(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment > now


def mark_data_sent(job: DeliveryJob, *, session: Session, now: datetime) -> bool:
    """Record that `job`'s attempt is handing the message over; False if it lost its claim."""
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.id) == job.delivery_id,
            col(Delivery.status) == DeliveryStatus.sending,
            col(Delivery.attempts) == job.attempt,
            col(Delivery.claimed_by) == job.claim,
        )
        .values(data_sent_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def record_outcome(
    job: DeliveryJob,
    outcome: Outcome,
    *,
    session: Session,
    now: datetime,
    max_attempts: int,
    backoff_seconds: float,
    backoff_max_seconds: float,
) -> Delivery:
    delivery = session.exec(
        select(Delivery).where(Delivery.id == job.delivery_id).with_for_update()
    ).one()
    if (delivery.attempts, delivery.claimed_by) != (job.attempt, job.claim):
        return delivery  # a later claim replaced this attempt: the row is not ours to set
    late_answer = (
        delivery.status == DeliveryStatus.unknown and outcome.status == DeliveryStatus.sent
    )
    if delivery.status != DeliveryStatus.sending and not late_answer:
        # Another claim judged this attempt dead after its hand-over (`unknown`); only a
        # definite "delivered" from this still-living attempt improves on that.
        return delivery
    status = outcome.status
    error = outcome.error
    if status == DeliveryStatus.retrying and delivery.attempts >= max_attempts:
        status = DeliveryStatus.failed
        error = f"gave up after {delivery.attempts} attempts; last: {error}"
    next_attempt_at = None
    if status == DeliveryStatus.retrying:
        delay = min(backoff_seconds * 2 ** (delivery.attempts - 1), backoff_max_seconds)
        delay = max(delay, outcome.retry_after or 0.0)
        next_attempt_at = now + timedelta(seconds=delay)
    _judge(delivery, status, error, session=session, now=now, next_attempt_at=next_attempt_at)
    return delivery


def _judge(
    delivery: Delivery,
    status: DeliveryStatus,
    error: str | None,
    *,
    session: Session,
    now: datetime,
    next_attempt_at: datetime | None = None,
) -> None:
    delivery.status = status
    delivery.last_error = error[:_MAX_ERROR] if error else None
    delivery.next_attempt_at = next_attempt_at
    delivery.updated_at = now
    if status == DeliveryStatus.sent:
        delivery.sent_at = now
    session.add(delivery)
    data: dict[str, object] = {"delivery": delivery.id, "attempt": delivery.attempts}
    if delivery.last_error:
        data["error"] = delivery.last_error
    if next_attempt_at is not None:
        data["next_attempt_at"] = next_attempt_at.isoformat()
    record_event(
        f"delivery.{status.value}",
        session=session,
        actor="worker",
        campaign_id=_campaign_of(delivery, session=session),
        data=data,
        at=now,
    )


def _campaign_of(delivery: Delivery, *, session: Session) -> str | None:
    summary = session.get(Summary, delivery.summary_id)
    return summary.campaign_id if summary else None


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


def due_deliveries(*, session: Session, now: datetime, stale_after: timedelta) -> list[int]:
    """Retries that are due, queued rows whose broker message may have been lost, and
    attempts whose lease ran out (their task died and will not come back on its own)."""
    query = select(Delivery.id).where(
        or_(
            (col(Delivery.status) == DeliveryStatus.retrying)
            & (col(Delivery.next_attempt_at) <= now),
            (col(Delivery.status) == DeliveryStatus.queued)
            & (col(Delivery.updated_at) <= now - stale_after),
            (col(Delivery.status) == DeliveryStatus.sending)
            & (col(Delivery.next_attempt_at) <= now),
        )
    )
    return [i for i in session.exec(query) if i is not None]


def resend(delivery_id: int, *, session: Session, actor: str) -> Delivery:
    """Queue a failed or unknown delivery again: the only way either goes out again."""
    delivery = session.exec(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).first()
    if delivery is None:
        raise NotFoundError(f"unknown delivery {delivery_id} (see `campaigns deliveries`)")
    if delivery.status not in (DeliveryStatus.unknown, DeliveryStatus.failed):
        raise ConflictError(
            f"delivery {delivery_id} is {delivery.status}: only failed or unknown ones are resent"
        )
    record_event(
        "delivery.resend",
        session=session,
        actor=actor,
        campaign_id=_campaign_of(delivery, session=session),
        data={
            "delivery": delivery_id,
            "was": delivery.status,
            "attempts": delivery.attempts,
            "error": delivery.last_error,
        },
    )
    delivery.status = DeliveryStatus.queued
    # A fresh budget of attempts (the history stays in the event log); the cleared claim
    # fences off any attempt still alive from before.
    delivery.attempts = 0
    delivery.next_attempt_at = None
    delivery.claimed_by = None
    delivery.data_sent_at = None
    delivery.last_error = None
    delivery.updated_at = utcnow()
    session.add(delivery)
    return delivery


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Delivery
    campaign_id: str
    version: int
    recipient: Recipient


def list_deliveries(*, session: Session, campaign_id: str | None = None) -> list[DeliveryRow]:
    query = (
        select(Delivery, Summary, Recipient)
        .join(Summary, col(Summary.id) == col(Delivery.summary_id))
        .join(Recipient, col(Recipient.id) == col(Delivery.recipient_id))
        .order_by(col(Delivery.id))
    )
    if campaign_id is not None:
        if session.get(Campaign, campaign_id) is None:
            raise NotFoundError(f"unknown campaign {campaign_id!r} (see `campaigns list`)")
        query = query.where(Summary.campaign_id == campaign_id)
    return [
        DeliveryRow(delivery, summary.campaign_id, summary.version, recipient)
        for delivery, summary, recipient in session.exec(query)
    ]
