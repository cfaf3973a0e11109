"""Summaries stored as numbered versions, and the evening digests stored the same way.

Final summaries are versions 1, 2, ... of a campaign; digests are non-final summaries
numbered -1, -2, ... with a `Digest` row whose (campaign, day) is unique. Compiling stores
the figures; the dispatcher queues the deliveries in the same transaction.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from campaigns.audit import record_event
from campaigns.models import Campaign, CampaignStatus, Digest, Summary, utcnow
from campaigns.planning.campaigns import get_campaign, local_days
from campaigns.planning.lifecycle import transition
from campaigns.summaries.figures import Figures, compile_figures


def latest_summary(campaign_id: str, *, session: Session) -> Summary | None:
    """The newest final summary (digests are not versions of the outcome summary)."""
    query = (
        select(Summary)
        .where(Summary.campaign_id == campaign_id, col(Summary.final).is_(True))
        .order_by(col(Summary.version).desc())
    )
    return session.exec(query).first()


def get_summary(campaign_id: str, version: int, *, session: Session) -> Summary | None:
    query = select(Summary).where(Summary.campaign_id == campaign_id, Summary.version == version)
    return session.exec(query).first()


def list_summaries(campaign_id: str, *, session: Session) -> list[Summary]:
    """Final versions in order, then digests newest first."""
    query = select(Summary).where(Summary.campaign_id == campaign_id)
    rows = list(session.exec(query))
    return sorted(rows, key=lambda s: (not s.final, abs(s.version)))


def compile_final_summary(
    campaign_id: str, *, session: Session, actor: str, now: datetime | None = None
) -> Summary | None:
    """Compile the next version for a closed campaign (the caller queues its deliveries).

    The `closed → reported` transition is the guard: of two racing compilers only one
    wins it, and the summary (with the delivery rows the caller adds in the same
    session) commits with it or not at all. The
    unique (campaign, version) constraint backs it up should the guard ever be bypassed.
    """
    now = now or utcnow()
    if not transition(
        campaign_id,
        CampaignStatus.closed,
        CampaignStatus.reported,
        session=session,
        actor=actor,
        now=now,
    ):
        return None
    campaign = get_campaign(campaign_id, session=session)
    figures = compile_figures(campaign, session=session, now=now)
    previous = latest_summary(campaign_id, session=session)
    version = (previous.version + 1) if previous else 1
    changes = (
        describe_changes(json.loads(previous.figures), figures, from_version=previous.version)
        if previous
        else None
    )
    figures["version"] = version
    if changes is not None:
        figures["changes"] = changes
    # No sort_keys: the metrics keep the observance's order through storage, as the report
    # lists them; versions are compared as parsed figures (`describe_changes`), never as text.
    summary = Summary(
        campaign_id=campaign_id,
        version=version,
        final=True,
        compiled_at=now,
        figures=json.dumps(figures, ensure_ascii=False),
        changes=json.dumps(changes, ensure_ascii=False) if changes else None,
    )
    session.add(summary)
    session.flush()
    record_event(
        "summary.compiled",
        session=session,
        actor=actor,
        campaign_id=campaign_id,
        data={"version": version, "changes": changes},
        at=now,
    )
    return summary


def describe_changes(before: Figures, after: Figures, *, from_version: int) -> dict[str, Any]:
    """What a new version changes: totals per metric, and the corrections added since."""
    totals = []
    # In the new version's metric order (the observance's), then any metric it no longer has.
    gone = [metric_id for metric_id in before["metrics"] if metric_id not in after["metrics"]]
    for metric_id in [*after["metrics"], *gone]:
        old = before["metrics"].get(metric_id, {}).get("total", 0)
        new = after["metrics"].get(metric_id, {}).get("total", 0)
        if old != new:
            totals.append({"metric": metric_id, "before": old, "after": new})
    known = {c["key"] for c in before.get("corrections", [])}
    added = [c for c in after.get("corrections", []) if c["key"] not in known]
    return {
        "from_version": from_version,
        "totals": totals,
        "corrections": added,
    }


def compile_digest(
    campaign_id: str, day: date, *, session: Session, actor: str, now: datetime | None = None
) -> Summary | None:
    """The interim digest of a running campaign for its local `day` (the caller queues its
    deliveries in the same session).

    None when the campaign is not running or the day's digest exists: the unique
    (campaign, day) row decides between racing dispatchers, not a prior read.
    """
    now = now or utcnow()
    campaign = get_campaign(campaign_id, session=session)
    if campaign.status != CampaignStatus.running:
        return None
    existing = select(Digest.id).where(Digest.campaign_id == campaign_id, Digest.day == day)
    if session.exec(existing).first() is not None:
        return None
    figures = as_digest(compile_figures(campaign, session=session, now=now), day)
    lowest = session.exec(
        select(func.min(Summary.version)).where(Summary.campaign_id == campaign_id)
    ).one()
    version = min(int(lowest or 0), 0) - 1
    try:
        with session.begin_nested():
            summary = Summary(
                campaign_id=campaign_id,
                version=version,
                final=False,
                compiled_at=now,
                figures=json.dumps(figures, ensure_ascii=False),
            )
            session.add(summary)
            session.flush()
            assert summary.id is not None
            session.add(
                Digest(campaign_id=campaign_id, day=day, summary_id=summary.id, created_at=now)
            )
            session.flush()
    except IntegrityError:
        return None
    record_event(
        "digest.compiled",
        session=session,
        actor=actor,
        campaign_id=campaign_id,
        data={"day": day.isoformat()},
        at=now,
    )
    return summary


def as_digest(figures: Figures, day: date) -> Figures:
    """The figures as the digest of `day` (campaign-local): what it adds to the final form."""
    return {**figures, "kind": "digest", "day": day.isoformat()}


def year_digest(
    year: int,
    *,
    session: Session,
    now: datetime | None = None,
    statuses: tuple[CampaignStatus, ...] = (CampaignStatus.running,),
) -> list[Figures]:
    """On demand: the digest of every campaign of `year` in one of `statuses`, as of now."""
    now = now or utcnow()
    query = (
        select(Campaign)
        .where(Campaign.year == year, col(Campaign.status).in_([s.value for s in statuses]))
        .order_by(col(Campaign.start_at), col(Campaign.id))
    )
    digests = []
    for campaign in session.exec(query):
        first, last = local_days(campaign)
        today = now.astimezone(ZoneInfo(campaign.timezone)).date()
        day = min(max(today, first), last)
        digests.append(as_digest(compile_figures(campaign, session=session, now=now), day))
    return digests
