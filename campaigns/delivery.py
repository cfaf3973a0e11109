"""Delivering each summary version exactly once to each recipient, or saying honestly why not.

One `Delivery` row per (summary, recipient, channel) is created in the transaction that
stores the summary. Sending is three steps with the network in the middle and never
inside a transaction:

    claim()          queued/retrying → sending      (row locked, attempts + 1, committed)
    send()           SMTP / outbox / chat robot      (no database)
    record_outcome() sending → sent | retrying | failed | unknown

A row found still `sending` by a later claim means an earlier attempt died mid-send:
the message may have gone out, so it becomes `unknown` and only `resend` sends it again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, or_, select

from campaigns.audit import record_event
from campaigns.errors import ConflictError, NotFoundError
from campaigns.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Recipient,
    RecipientChannel,
    Summary,
    utcnow,
)
from campaigns.recipients import list_recipients

_CLAIMABLE = (DeliveryStatus.queued, DeliveryStatus.retrying)


def create_deliveries(summary: Summary, *, session: Session, now: datetime) -> list[Delivery]:
    from campaigns.mail import make_message_id

    deliveries = []
    for recipient in list_recipients(session=session, campaign_id=summary.campaign_id):
        assert recipient.id is not None and summary.id is not None
        delivery = Delivery(
            summary_id=summary.id,
            recipient_id=recipient.id,
            channel=recipient.channel,
            status=DeliveryStatus.queued,
            # Fixed before the first attempt, so a resent message is recognisably the same one.
            message_id=make_message_id("campaigns.local"),
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        deliveries.append(delivery)
    session.flush()
    return deliveries


@dataclass(frozen=True)
class DeliveryJob:
    delivery_id: int
    channel: str
    address: str
    name: str | None
    secret_env: str | None
    message_id: str
    attempt: int
    summary_version: int
    figures: dict[str, Any]


def claim(
    delivery_id: int, *, session: Session, now: datetime, lease: timedelta
) -> DeliveryJob | None:
    """Take the delivery for one attempt, or None when there is nothing (more) to do.

    A claim holds a lease (`next_attempt_at` while `sending`): a duplicate task finding a
    live lease leaves it alone; one finding it expired knows the attempt died.
    """
    delivery = session.exec(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).first()
    if delivery is None:
        return None
    if delivery.status == DeliveryStatus.sending:
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return None
        delivery.status = DeliveryStatus.unknown
        delivery.last_error = "an earlier attempt stopped mid-send; it may have been delivered"
        delivery.updated_at = now
        session.add(delivery)
        record_event(
            "delivery.unknown",
            session=session,
            actor="worker",
            data={"delivery": delivery_id, "reason": delivery.last_error},
        )
        return None
    if delivery.status not in _CLAIMABLE:
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None
    recipient = session.get(Recipient, delivery.recipient_id)
    summary = session.get(Summary, delivery.summary_id)
    assert recipient is not None and summary is not None and delivery.message_id is not None
    delivery.status = DeliveryStatus.sending
    delivery.attempts += 1
    delivery.next_attempt_at = now + lease
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
        summary_version=summary.version,
        figures=json.loads(summary.figures),
    )


@dataclass(frozen=True)
class Outcome:
    status: DeliveryStatus
    error: str | None = None
    retry_after: float | None = None


def record_outcome(
    delivery_id: int,
    outcome: Outcome,
    *,
    session: Session,
    now: datetime,
    max_attempts: int,
    backoff_seconds: float,
    backoff_max_seconds: float,
) -> Delivery:
    delivery = session.exec(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).one()
    if delivery.status != DeliveryStatus.sending:
        # The lease ran out and another claim already judged this attempt.
        return delivery
    status = outcome.status
    if status == DeliveryStatus.retrying and delivery.attempts >= max_attempts:
        status = DeliveryStatus.failed
    delivery.status = status
    delivery.last_error = outcome.error[:1000] if outcome.error else None
    delivery.updated_at = now
    if status == DeliveryStatus.sent:
        delivery.sent_at = now
        delivery.next_attempt_at = None
    elif status == DeliveryStatus.retrying:
        delay = min(backoff_seconds * 2 ** (delivery.attempts - 1), backoff_max_seconds)
        delay = max(delay, outcome.retry_after or 0.0)
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    session.add(delivery)
    record_event(
        f"delivery.{status.value}",
        session=session,
        actor="worker",
        data={"delivery": delivery_id, "attempt": delivery.attempts, "error": delivery.last_error},
        at=now,
    )
    return delivery


def due_deliveries(*, session: Session, now: datetime, stale_after: timedelta) -> list[int]:
    """Retries that are due, and queued rows whose broker message may have been lost."""
    query = select(Delivery.id).where(
        or_(
            (col(Delivery.status) == DeliveryStatus.retrying)
            & (col(Delivery.next_attempt_at) <= now),
            (col(Delivery.status) == DeliveryStatus.queued)
            & (col(Delivery.updated_at) <= now - stale_after),
        )
    )
    return [i for i in session.exec(query) if i is not None]


def resend(delivery_id: int, *, session: Session, actor: str) -> Delivery:
    delivery = session.exec(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).first()
    if delivery is None:
        raise NotFoundError(f"unknown delivery {delivery_id} (see `campaigns deliveries`)")
    if delivery.status not in (DeliveryStatus.unknown, DeliveryStatus.failed):
        raise ConflictError(
            f"delivery {delivery_id} is {delivery.status}: only failed or unknown ones are resent"
        )
    previous = delivery.status
    delivery.status = DeliveryStatus.queued
    delivery.next_attempt_at = None
    delivery.updated_at = utcnow()
    session.add(delivery)
    record_event(
        "delivery.resend",
        session=session,
        actor=actor,
        data={"delivery": delivery_id, "was": previous},
    )
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


def webhook_secret(job: DeliveryJob) -> str | None:
    return os.environ.get(job.secret_env) if job.secret_env else None


def is_email(job: DeliveryJob) -> bool:
    return job.channel == RecipientChannel.email
