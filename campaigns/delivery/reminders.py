"""Reminders before a report-by deadline: one to each participant that has not reported.

`queue_due_reminders` runs in the dispatcher's pass. For every campaign not yet reported or
cancelled whose deadline is near (`report_by - before <= now < report_by`), each participant
without a report gets a `Reminder` row and a `Delivery` to its unit's contact, which the
ordinary delivery path sends. The row is at most one per campaign and unit: each insert runs
in a SAVEPOINT, and a racing dispatcher's insert that hits the unique constraint rolls back
that unit alone. A unit without a usable contact gets its row too (the reminder was due and
is settled, so the next pass does not try again) and one `reminder.no_contact` event, which
is how the organiser learns that it could not be reminded.

`reminder_mail` is what the claim of a reminder's delivery carries to `sending`: the text,
official Chinese first, read from the campaign and the deadline the reminder announced.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from campaigns.audit import record_event
from campaigns.delivery.deliveries import create_reminder_delivery
from campaigns.delivery.recipients import shown_address, unit_contact
from campaigns.delivery.sending import ReminderMail
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Participant,
    Reminder,
    ReportingUnit,
)
from campaigns.planning.campaigns import local_days
from campaigns.planning.participants import deadline_text

_SETTLED = (CampaignStatus.reported, CampaignStatus.cancelled)


def queue_due_reminders(
    *, session: Session, now: datetime, before: timedelta, actor: str
) -> list[int]:
    """Create the reminders due at `now`; the ids of their deliveries, to enqueue after commit."""
    due = session.exec(
        select(Participant.campaign_id, Participant.unit_code)
        .join(Campaign, col(Campaign.id) == col(Participant.campaign_id))
        .outerjoin(
            Reminder,
            (col(Reminder.campaign_id) == col(Participant.campaign_id))
            & (col(Reminder.unit_code) == col(Participant.unit_code)),
        )
        .where(
            col(Campaign.status).not_in(_SETTLED),
            col(Campaign.report_by).is_not(None),
            col(Campaign.report_by) > now,
            col(Campaign.report_by) <= now + before,
            col(Participant.reported_at).is_(None),
            col(Reminder.id).is_(None),
        )
        .order_by(col(Participant.campaign_id), col(Participant.unit_code))
    ).all()
    if not due:
        return []
    # unit_contact needs the unit's row lock (one recipient per unit across campaigns).
    # Taken in code order, so two dispatchers cannot deadlock; NO KEY UPDATE on PostgreSQL
    # leaves tallies that reference the unit free to be stored meanwhile.
    units = {
        unit.code: unit
        for unit in session.exec(
            select(ReportingUnit)
            .where(col(ReportingUnit.code).in_({code for _, code in due}))
            .order_by(col(ReportingUnit.code))
            .with_for_update(key_share=True)
        )
    }
    campaigns = {
        c.id: c
        for c in session.exec(select(Campaign).where(col(Campaign.id).in_({i for i, _ in due})))
    }
    queued: list[int] = []
    for campaign_id, code in due:
        campaign, unit = campaigns[campaign_id], units[code]
        assert campaign.report_by is not None
        reminder = _claim(campaign_id, code, campaign.report_by, session=session, now=now)
        if reminder is None:
            continue  # another dispatcher reminded this unit first
        recipient = (
            unit_contact(code, unit.name, unit.contact, session=session, now=now)
            if unit.contact
            else None
        )
        data: dict[str, object] = {"unit": code, "name": unit.name, "reminder": reminder.id}
        if recipient is None:
            record_event(
                "reminder.no_contact",
                session=session,
                actor=actor,
                campaign_id=campaign_id,
                data={**data, "why": "no contact" if not unit.contact else "unusable contact"},
                at=now,
            )
            continue
        delivery = create_reminder_delivery(reminder, recipient, session=session, now=now)
        assert delivery.id is not None
        record_event(
            "reminder.queued",
            session=session,
            actor=actor,
            campaign_id=campaign_id,
            data={
                **data,
                "delivery": delivery.id,
                "recipient": shown_address(recipient.channel, recipient.address),
            },
            at=now,
        )
        queued.append(delivery.id)
    return queued


def _claim(
    campaign_id: str, code: str, report_by: datetime, *, session: Session, now: datetime
) -> Reminder | None:
    """The new reminder row, or None when one exists (the unique constraint says so)."""
    reminder = Reminder(
        campaign_id=campaign_id, unit_code=code, report_by=report_by, created_at=now
    )
    try:
        with session.begin_nested():
            session.add(reminder)
            session.flush()
    except IntegrityError:
        return None
    return reminder


def reminder_mail(reminder_id: int, *, session: Session) -> ReminderMail:
    reminder = session.get(Reminder, reminder_id)
    assert reminder is not None
    campaign = session.get(Campaign, reminder.campaign_id)
    unit = session.get(ReportingUnit, reminder.unit_code)
    assert campaign is not None and unit is not None
    first, last = local_days(campaign)
    return compose_reminder(
        campaign_id=campaign.id,
        unit_code=unit.code,
        unit_name=unit.name,
        title=campaign.title,
        first=first,
        last=last,
        report_by=reminder.report_by,
        zone=ZoneInfo(campaign.timezone),
    )


def compose_reminder(
    *,
    campaign_id: str,
    unit_code: str,
    unit_name: str,
    title: str,
    first: date,
    last: date,
    report_by: datetime,
    zone: ZoneInfo,
) -> ReminderMail:
    """The reminder's words: 【催报】 subject, one official paragraph, an English line."""
    what = title if title.endswith("活动") else f"{title}活动"
    deadline = _deadline_zh(report_by, zone)
    return ReminderMail(
        campaign_id=campaign_id,
        unit_code=unit_code,
        unit_name=unit_name,
        subject=f"【催报】关于报送{what}统计表的提醒",
        zh_text=(
            f"{unit_name}：{what}（{_period_zh(first, last)}）统计表填报截止时间为{deadline}，"
            "目前尚未收到贵单位的统计表，请于截止前报送。"
        ),
        en_text=(
            f"Reminder to {unit_name}: the report sheet of {title} ({first:%Y-%m-%d} to"
            f" {last:%Y-%m-%d}) is due by {deadline_text(report_by, zone)} ({zone.key});"
            " it has not been received yet, please send it before the deadline."
        ),
        robot_text=f"【催报】{unit_name}：{what}统计表请于{deadline}前报送，目前尚未收到。",
    )


def _period_zh(first: date, last: date) -> str:
    if first == last:
        return f"{first.month}月{first.day}日"
    end = f"{last.day}日" if (first.year, first.month) == (last.year, last.month) else ""
    return f"{first.month}月{first.day}日—{end or f'{last.month}月{last.day}日'}"


def _deadline_zh(report_by: datetime, zone: ZoneInfo) -> str:
    """12月10日24时 for the local midnight after the 10th, as a 填报截止 is written."""
    local = report_by.astimezone(zone)
    if local.time() == time(0, 0):
        day = local - timedelta(days=1)
        return f"{day.month}月{day.day}日24时"
    minutes = f"{local.minute:02d}分" if local.minute else ""
    return f"{local.month}月{local.day}日{local.hour}时{minutes}"
