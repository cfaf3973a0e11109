"""The outcome summary's figures, compiled from the rollups, stored as numbered versions.

Figures are plain JSON (`Figures`), so what was sent can always be shown again exactly,
and every renderer (text, Markdown, HTML, JSON, chart, spreadsheet) reads the same data.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from campaigns.audit import record_event
from campaigns.delivery import create_deliveries
from campaigns.lifecycle import transition
from campaigns.models import Campaign, CampaignStatus, Summary, utcnow
from campaigns.planning import get_campaign, local_days, metric_catalogue, targets_of
from campaigns.tallies import breakdown, totals

Figures = dict[str, Any]


def compile_figures(campaign: Campaign, *, session: Session) -> Figures:
    catalogue = metric_catalogue(session=session)
    metric_totals = totals(campaign.id, session=session)
    targets = targets_of(campaign.id, session=session)
    previous = _previous_campaign(campaign, session=session)
    previous_totals = totals(previous.id, session=session) if previous else {}
    first, last = local_days(campaign)
    metrics: dict[str, Any] = {}
    for metric_id in sorted(set(metric_totals) | set(targets)):
        metric = catalogue.get(metric_id)
        current = metric_totals.get(metric_id)
        total = current.total if current else 0
        target = targets.get(metric_id)
        before = previous_totals.get(metric_id)
        metrics[metric_id] = {
            "zh": metric.zh,
            "en": metric.en,
            "unit": metric.unit_zh,
            "unit_en": metric.unit_en,
            "money": metric.is_money,
            "total": total,
            "tallies": current.tallies if current else 0,
            "corrections": current.corrections if current else 0,
            "target": target,
            "reached_pct": round(100 * total / target, 1) if target else None,
            "previous": before.total if before else None,
            "change_pct": (
                round(100 * (total - before.total) / before.total, 1)
                if before and before.total
                else None
            ),
        }
    return {
        "campaign": {
            "id": campaign.id,
            "kind": campaign.kind,
            "year": campaign.year,
            "title": campaign.title,
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "timezone": campaign.timezone,
            "venue": campaign.venue,
            "status": campaign.status,
        },
        "metrics": metrics,
        "by_day": breakdown(campaign.id, session=session, by="day"),
        "by_venue": breakdown(campaign.id, session=session, by="venue"),
        "previous_year": (
            {"campaign_id": previous.id, "totals": {m: t.total for m, t in previous_totals.items()}}
            if previous
            else None
        ),
    }


def _previous_campaign(campaign: Campaign, *, session: Session) -> Campaign | None:
    query = (
        select(Campaign)
        .where(
            Campaign.kind == campaign.kind,
            Campaign.year == campaign.year - 1,
            col(Campaign.status) != CampaignStatus.cancelled,
        )
        .order_by(col(Campaign.start_at))
    )
    return session.exec(query).first()


def latest_summary(campaign_id: str, *, session: Session) -> Summary | None:
    query = (
        select(Summary)
        .where(Summary.campaign_id == campaign_id)
        .order_by(col(Summary.version).desc())
    )
    return session.exec(query).first()


def compile_final_summary(
    campaign_id: str, *, session: Session, actor: str, now: datetime | None = None
) -> Summary | None:
    """Compile the next version for a closed campaign and queue its deliveries.

    The `closed → reported` transition is the guard: of two racing compilers only one
    wins it, and the summary and its delivery rows commit with it or not at all.
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
    figures = compile_figures(campaign, session=session)
    previous = latest_summary(campaign_id, session=session)
    version = (previous.version + 1) if previous else 1
    summary = Summary(
        campaign_id=campaign_id,
        version=version,
        final=True,
        compiled_at=now,
        figures=json.dumps(figures, ensure_ascii=False, sort_keys=True),
        changes=describe_changes(json.loads(previous.figures), figures) if previous else None,
    )
    session.add(summary)
    session.flush()
    deliveries = create_deliveries(summary, session=session, now=now)
    record_event(
        "summary.compiled",
        session=session,
        actor=actor,
        campaign_id=campaign_id,
        data={"version": version, "deliveries": len(deliveries)},
        at=now,
    )
    return summary


def describe_changes(before: Figures, after: Figures) -> str:
    lines = []
    for metric_id in sorted(set(before["metrics"]) | set(after["metrics"])):
        old = before["metrics"].get(metric_id, {}).get("total", 0)
        new = after["metrics"].get(metric_id, {}).get("total", 0)
        if old != new:
            lines.append(f"{metric_id}: {old} → {new}")
    return "; ".join(lines) or "no change in totals"


def summary_count(campaign_id: str, *, session: Session) -> int:
    query = select(func.count()).select_from(Summary).where(Summary.campaign_id == campaign_id)
    return int(session.exec(query).one())
