"""Delivery rows as the dispatcher and the operator see them: created, found due, resent, listed.

One `Delivery` row per (summary, recipient, channel) is created in the transaction that
stores the summary, its Message-ID fixed there (a year's report and a reminder likewise);
each attempt at it is made by `campaigns.delivery.attempts`. A failed or `unknown` row only
goes out again through an explicit `resend`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, or_, select

from campaigns.audit import record_event
from campaigns.delivery.recipients import list_recipients
from campaigns.delivery.transitions import campaign_of
from campaigns.errors import ConflictError, NotFoundError
from campaigns.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Recipient,
    Reminder,
    ReportingUnit,
    Summary,
    YearReportVersion,
    utcnow,
)
from campaigns.settings import get_settings


def create_deliveries(summary: Summary, *, session: Session, now: datetime) -> list[Delivery]:
    assert summary.id is not None
    recipients = list_recipients(session=session, campaign_id=summary.campaign_id)
    return _create(recipients, session=session, now=now, summary_id=summary.id)


def create_report_deliveries(
    report: YearReportVersion, *, session: Session, now: datetime
) -> list[Delivery]:
    """The year's report goes to the recipients of every campaign (not to campaign-only ones)."""
    assert report.id is not None
    recipients = [r for r in list_recipients(session=session) if r.campaign_id is None]
    return _create(recipients, session=session, now=now, year_report_id=report.id)


def create_reminder_delivery(
    reminder: Reminder, recipient: Recipient, *, session: Session, now: datetime
) -> Delivery:
    """The one message of a reminder, to its unit's contact."""
    assert reminder.id is not None
    (delivery,) = _create([recipient], session=session, now=now, reminder_id=reminder.id)
    return delivery


def _create(
    recipients: list[Recipient],
    *,
    session: Session,
    now: datetime,
    summary_id: int | None = None,
    year_report_id: int | None = None,
    reminder_id: int | None = None,
) -> list[Delivery]:
    from campaigns.delivery.mail import make_message_id

    domain = _message_id_domain(get_settings().mail_from)
    deliveries = []
    for recipient in recipients:
        assert recipient.id is not None
        delivery = Delivery(
            summary_id=summary_id,
            year_report_id=year_report_id,
            reminder_id=reminder_id,
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
        campaign_id=campaign_of(delivery, session=session),
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
    # 0 for a reminder, which has no versions.
    version: int
    recipient: Recipient
    # What was sent, as a listing shows it: "v2" (a summary or a year's report), "催报 淇县".
    what: str


def list_deliveries(*, session: Session, campaign_id: str | None = None) -> list[DeliveryRow]:
    """Every delivery, or a campaign's (its summaries' and reminders'); a year's report shows
    as `year-report-2026`."""
    # SQLAlchemy's own select: sqlmodel's is typed for at most four entities.
    query = (
        sa_select(Delivery, Summary, YearReportVersion, Reminder, ReportingUnit, Recipient)
        .outerjoin(Summary, col(Summary.id) == col(Delivery.summary_id))
        .outerjoin(YearReportVersion, col(YearReportVersion.id) == col(Delivery.year_report_id))
        .outerjoin(Reminder, col(Reminder.id) == col(Delivery.reminder_id))
        .outerjoin(ReportingUnit, col(ReportingUnit.code) == col(Reminder.unit_code))
        .join(Recipient, col(Recipient.id) == col(Delivery.recipient_id))
        .order_by(col(Delivery.id))
    )
    if campaign_id is not None:
        if session.get(Campaign, campaign_id) is None:
            raise NotFoundError(f"unknown campaign {campaign_id!r} (see `campaigns list`)")
        query = query.where(
            or_(col(Summary.campaign_id) == campaign_id, col(Reminder.campaign_id) == campaign_id)
        )
    rows = []
    for delivery, summary, report, reminder, unit, recipient in session.execute(query):
        if summary is not None:
            rows.append(
                DeliveryRow(
                    delivery, summary.campaign_id, summary.version, recipient, f"v{summary.version}"
                )
            )
        elif report is not None:
            rows.append(
                DeliveryRow(
                    delivery,
                    report_label(report.year),
                    report.version,
                    recipient,
                    f"v{report.version}",
                )
            )
        elif reminder is not None:
            name = unit.name if unit is not None else reminder.unit_code
            rows.append(DeliveryRow(delivery, reminder.campaign_id, 0, recipient, f"催报 {name}"))
    return rows


def report_label(year: int) -> str:
    return f"year-report-{year}"
