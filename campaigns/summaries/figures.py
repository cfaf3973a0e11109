"""The outcome summary's figures, compiled from the rollups, stored as numbered versions;
and the evening digests of running campaigns, stored the same way.

Figures are plain JSON (`Figures`), so what was sent can always be shown again exactly,
and every renderer (text, Markdown, HTML, JSON, chart, spreadsheet) reads the same data.
Final summaries are versions 1, 2, ... of a campaign; digests are non-final summaries
numbered -1, -2, ... with a `Digest` row whose (campaign, day) is unique.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sql_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from campaigns.audit import record_event
from campaigns.models import (
    Campaign,
    CampaignStatus,
    DayRollup,
    Digest,
    Summary,
    Tally,
    VenueRollup,
    utcnow,
)
from campaigns.planning.campaigns import get_campaign, local_days, metric_catalogue, targets_of
from campaigns.planning.lifecycle import transition
from campaigns.planning.observances import get_observance

Figures = dict[str, Any]

# Corrections listed one by one in a summary; beyond this only their sums are shown.
MAX_LISTED_CORRECTIONS = 100


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1)


class _Rollup:
    """A campaign's rollup rows read once: every total and the tally counts behind it."""

    def __init__(self, campaign_id: str, *, session: Session) -> None:
        self.total: dict[str, int] = defaultdict(int)
        self.trace: dict[str, dict[str, Any]] = {}
        self.by_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.by_venue: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # Plain rows rather than ORM objects: a province's campaign has ten thousand venue rows.
        days = sql_select(
            col(DayRollup.metric),
            col(DayRollup.day),
            col(DayRollup.is_correction),
            col(DayRollup.total),
            col(DayRollup.tallies),
        ).where(col(DayRollup.campaign_id) == campaign_id)
        for metric, day, is_correction, total, tallies in session.execute(days):
            trace = self._trace(metric)
            key = day.isoformat()
            self.total[metric] += total
            self.by_day[metric][key] += total
            prefix = "correction_" if is_correction else ""
            trace[f"{prefix}tallies"] += tallies
            trace["corrections" if is_correction else "recorded"] += total
            trace["by_day"][key] += tallies
        venues = sql_select(
            col(VenueRollup.metric),
            col(VenueRollup.venue),
            col(VenueRollup.total),
            col(VenueRollup.tallies),
        ).where(col(VenueRollup.campaign_id) == campaign_id)
        for metric, venue, total, tallies in session.execute(venues):
            self.by_venue[metric][venue] = total
            self._trace(metric)["by_venue"][venue] = tallies

    def _trace(self, metric: str) -> dict[str, Any]:
        return self.trace.setdefault(
            metric,
            {
                "tallies": 0,
                "recorded": 0,
                "correction_tallies": 0,
                "corrections": 0,
                "by_day": defaultdict(int),
                "by_venue": defaultdict(int),
            },
        )

    def traced(self, metric: str) -> dict[str, Any]:
        trace = self.trace.get(metric)
        if trace is None:
            return {
                "tallies": 0,
                "recorded": 0,
                "correction_tallies": 0,
                "corrections": 0,
                "by_day": {},
                "by_venue": {},
            }
        return {
            **trace,
            "by_day": dict(sorted(trace["by_day"].items())),
            "by_venue": dict(sorted(trace["by_venue"].items())),
        }


def _sorted_nested(values: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {metric: dict(sorted(inner.items())) for metric, inner in sorted(values.items())}


def _metric_order(kind: str, metric_ids: set[str]) -> list[str]:
    """The observance's headline metrics first, as its report would list them; then the rest."""
    observance = get_observance(kind)
    headline = [m for m in (observance.headline_metrics if observance else ()) if m in metric_ids]
    return headline + sorted(metric_ids - set(headline))


def compile_figures(
    campaign: Campaign, *, session: Session, now: datetime | None = None
) -> Figures:
    """Every figure of the campaign as it stands, with the tally counts behind each total."""
    now = now or utcnow()
    zone = ZoneInfo(campaign.timezone)
    catalogue = metric_catalogue(session=session)
    rollup = _Rollup(campaign.id, session=session)
    targets = targets_of(campaign.id, session=session)
    previous = _previous_campaign(campaign, session=session)
    previous_totals = (
        dict(sorted(_Rollup(previous.id, session=session).total.items())) if previous else {}
    )
    first, last = local_days(campaign)
    metrics: dict[str, Any] = {}
    for metric_id in _metric_order(campaign.kind, set(rollup.total) | set(targets)):
        metric = catalogue.get(metric_id)
        total = rollup.total.get(metric_id, 0)
        trace = rollup.traced(metric_id)
        target = targets.get(metric_id)
        before = previous_totals.get(metric_id)
        metrics[metric_id] = {
            "zh": metric.zh,
            "en": metric.en,
            "unit": metric.unit_zh,
            "unit_en": metric.unit_en,
            "money": metric.is_money,
            "total": total,
            # What was recorded and what corrections changed: total = recorded + corrections.
            "recorded": trace["recorded"],
            "corrections": trace["corrections"],
            "tallies": trace["tallies"],
            "correction_tallies": trace["correction_tallies"],
            "target": target,
            "reached_pct": _pct(total, target) if target else None,
            "previous": before,
            "change_pct": _pct(total - before, before) if before else None,
        }
    return {
        "kind": "final",
        "as_of": now.astimezone(zone).isoformat(timespec="minutes"),
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
        "by_day": _sorted_nested(rollup.by_day),
        "by_venue": _sorted_nested(rollup.by_venue),
        "trace": {metric_id: rollup.traced(metric_id) for metric_id in metrics},
        "corrections": _corrections(campaign, session=session),
        "previous_year": (
            {"campaign_id": previous.id, "title": previous.title, "totals": previous_totals}
            if previous
            else None
        ),
    }


def _corrections(campaign: Campaign, *, session: Session) -> list[dict[str, Any]]:
    zone = ZoneInfo(campaign.timezone)
    query = (
        select(Tally)
        .where(Tally.campaign_id == campaign.id, col(Tally.is_correction).is_(True))
        .order_by(col(Tally.occurred_at), col(Tally.id))
        .limit(MAX_LISTED_CORRECTIONS)
    )
    return [
        {
            "metric": t.metric,
            "quantity": t.quantity,
            "reason": t.reason,
            "recorded_by": t.recorded_by,
            "at": t.occurred_at.astimezone(zone).isoformat(timespec="minutes"),
            "key": t.key,
        }
        for t in session.exec(query)
    ]


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
    summary = Summary(
        campaign_id=campaign_id,
        version=version,
        final=True,
        compiled_at=now,
        figures=json.dumps(figures, ensure_ascii=False, sort_keys=True),
        changes=json.dumps(changes, ensure_ascii=False, sort_keys=True) if changes else None,
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
    for metric_id in sorted(set(before["metrics"]) | set(after["metrics"])):
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
                figures=json.dumps(figures, ensure_ascii=False, sort_keys=True),
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
