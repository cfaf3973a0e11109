"""Moving campaigns along `scheduled → running → closed → reported` (or `cancelled`).

Each transition is a compare-and-set UPDATE (`... WHERE status = <from>`) plus a domain
event in the same transaction, so two dispatchers racing make one transition between
them: the database decides, not timing.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from campaigns.audit import record_event
from campaigns.errors import ConflictError
from campaigns.models import Campaign, CampaignStatus, Digest, utcnow
from campaigns.planning.campaigns import get_campaign, local_days


def transition(
    campaign_id: str,
    source: CampaignStatus | tuple[CampaignStatus, ...],
    target: CampaignStatus,
    *,
    session: Session,
    actor: str,
    now: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """Move the campaign from one of `source` to `target`; False if someone else already did."""
    sources = (source,) if isinstance(source, CampaignStatus) else source
    now = now or utcnow()
    current = session.exec(select(Campaign.status).where(Campaign.id == campaign_id)).first()
    result = session.execute(
        update(Campaign)
        .where(
            col(Campaign.id) == campaign_id, col(Campaign.status).in_([s.value for s in sources])
        )
        .values(status=target.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    data = {"from": current, "to": target.value}
    if reason:
        data["reason"] = reason
    record_event(
        f"campaign.{target.value}",
        session=session,
        actor=actor,
        campaign_id=campaign_id,
        data=data,
        at=now,
    )
    return True


def due_to_open(*, session: Session, now: datetime) -> list[str]:
    query = select(Campaign.id).where(
        Campaign.status == CampaignStatus.scheduled, col(Campaign.start_at) <= now
    )
    return list(session.exec(query))


def due_to_close(*, session: Session, now: datetime) -> list[str]:
    query = select(Campaign.id).where(
        col(Campaign.status).in_([CampaignStatus.scheduled, CampaignStatus.running]),
        col(Campaign.end_at) <= now,
    )
    return list(session.exec(query))


def awaiting_summary(*, session: Session) -> list[str]:
    return list(session.exec(select(Campaign.id).where(Campaign.status == CampaignStatus.closed)))


def due_for_digest(*, session: Session, now: datetime, at: time) -> list[tuple[str, date]]:
    """(campaign, local day) of running campaigns past `at` local time today, digest not sent.

    Not on a campaign's last day: its final summary follows at midnight, and a one-day
    campaign needs no interim digest at all. A day whose evening the dispatcher missed
    entirely is skipped, not sent late the next day.
    """
    due = []
    for campaign in session.exec(select(Campaign).where(Campaign.status == CampaignStatus.running)):
        local = now.astimezone(ZoneInfo(campaign.timezone))
        first, last = local_days(campaign)
        if local.time() >= at and first <= local.date() < last:
            due.append((campaign.id, local.date()))
    if not due:
        return []
    sent = session.exec(
        select(Digest).where(col(Digest.campaign_id).in_([campaign_id for campaign_id, _ in due]))
    )
    done = {(digest.campaign_id, digest.day) for digest in sent}
    return [item for item in due if item not in done]


def close_campaign(
    campaign_id: str, *, session: Session, actor: str, now: datetime | None = None
) -> Campaign:
    """Close by hand: the summary follows as if the end had passed."""
    campaign = get_campaign(campaign_id, session=session)
    if campaign.status in (CampaignStatus.closed, CampaignStatus.reported):
        return campaign
    if not transition(
        campaign_id,
        (CampaignStatus.scheduled, CampaignStatus.running),
        CampaignStatus.closed,
        session=session,
        actor=actor,
        now=now,
    ):
        session.refresh(campaign)
        if campaign.status not in (CampaignStatus.closed, CampaignStatus.reported):
            raise ConflictError(f"campaign {campaign_id!r} is {campaign.status}: cannot close it")
    session.refresh(campaign)
    return campaign


def reopen_campaign(campaign_id: str, *, session: Session, actor: str, reason: str) -> Campaign:
    """A reported campaign takes late tallies again; its next summary is a new version."""
    campaign = get_campaign(campaign_id, session=session)
    if not transition(
        campaign_id,
        CampaignStatus.reported,
        CampaignStatus.closed,
        session=session,
        actor=actor,
        reason=reason,
    ):
        raise ConflictError(f"campaign {campaign_id!r} is {campaign.status}, not reported")
    session.refresh(campaign)
    return campaign


def cancel_campaign(campaign_id: str, *, session: Session, actor: str, reason: str) -> Campaign:
    campaign = get_campaign(campaign_id, session=session)
    if not transition(
        campaign_id,
        (CampaignStatus.scheduled, CampaignStatus.running),
        CampaignStatus.cancelled,
        session=session,
        actor=actor,
        reason=reason,
    ):
        raise ConflictError(f"campaign {campaign_id!r} is {campaign.status}: cannot cancel it")
    session.refresh(campaign)
    return campaign


def report_now(
    campaign_id: str, *, session: Session, actor: str, now: datetime | None = None
) -> Campaign:
    """Stop waiting for the participants of a closed campaign: its deadline becomes now, so
    the summary is compiled at once and names the units still missing."""
    now = now or utcnow()
    campaign = get_campaign(campaign_id, session=session)
    if campaign.status != CampaignStatus.closed:
        raise ConflictError(f"campaign {campaign_id!r} is {campaign.status}, not closed")
    if campaign.report_by is None or campaign.report_by > now:
        before = campaign.report_by
        campaign.report_by = now
        campaign.updated_at = now
        session.add(campaign)
        record_event(
            "campaign.report_now",
            session=session,
            actor=actor,
            campaign_id=campaign_id,
            data={"report_by": now, "was": before},
            at=now,
        )
        session.flush()
    return campaign
