"""The state machine of one delivery row during an attempt: claim, hand-over, outcome.

    claim()          queued/retrying → sending      (row locked, attempts + 1, committed)
    mark_data_sent() data_sent_at committed just before the message can no longer be
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
`unknown` and only an explicit `resend` (`campaigns.delivery.deliveries`) sends it again.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from campaigns.audit import record_event
from campaigns.delivery.sending import DeliveryJob, Outcome, ReminderMail, YearReportMail
from campaigns.models import (
    Delivery,
    DeliveryStatus,
    Recipient,
    Reminder,
    Summary,
    YearReportVersion,
)

_CLAIMABLE = (DeliveryStatus.queued, DeliveryStatus.retrying)
_MAX_ERROR = 1000


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
    assert recipient is not None and delivery.message_id is not None
    version, figures, report, reminder = _content(delivery, session=session)
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
        summary_version=version,
        figures=figures,
        year_report=report,
        reminder=reminder,
    )


def _content(
    delivery: Delivery, *, session: Session
) -> tuple[int, dict[str, Any], YearReportMail | None, ReminderMail | None]:
    """What the delivery carries: a summary's figures, a frozen year's report, or a reminder."""
    if delivery.summary_id is not None:
        summary = session.get(Summary, delivery.summary_id)
        assert summary is not None
        return summary.version, json.loads(summary.figures), None, None
    if delivery.reminder_id is not None:
        # Imported here: reminders builds on deliveries, which builds on this module.
        from campaigns.delivery.reminders import reminder_mail

        return 0, {}, None, reminder_mail(delivery.reminder_id, session=session)
    report = session.get(YearReportVersion, delivery.year_report_id)
    assert report is not None
    body = json.loads(report.body)
    mail = YearReportMail(
        year=report.year,
        version=report.version,
        title=body["title"],
        zh_text=body["zh_text"],
        en_text=body["en_text"],
        zh_html=body["zh_html"],
        zh_markdown=body["zh_markdown"],
        changes=report.changes,
        docx=report.docx,
        pdf=report.pdf,
    )
    return report.version, {}, mail, None


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
        campaign_id=campaign_of(delivery, session=session),
        data=data,
        at=now,
    )


def campaign_of(delivery: Delivery, *, session: Session) -> str | None:
    if delivery.reminder_id is not None:
        reminder = session.get(Reminder, delivery.reminder_id)
        return reminder.campaign_id if reminder else None
    if delivery.summary_id is None:
        return None
    summary = session.get(Summary, delivery.summary_id)
    return summary.campaign_id if summary else None
