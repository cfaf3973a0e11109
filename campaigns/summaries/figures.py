"""The outcome summary's figures, compiled from the rollups: totals per metric, by day,
venue and reporting unit, against targets and the same observance last year, and the
tallies behind each.

Figures are plain JSON (`Figures`), so what was sent can always be shown again exactly,
and every renderer (text, Markdown, HTML, JSON, chart, spreadsheet) reads the same data.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from campaigns.models import (
    Campaign,
    CampaignStatus,
    DayRollup,
    Tally,
    VenueRollup,
    utcnow,
)
from campaigns.planning.campaigns import local_days, metric_catalogue, targets_of
from campaigns.planning.observances import get_observance
from campaigns.summaries.by_unit import unit_figures

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
        # by_unit and reporting, only for a campaign with units (`summaries.by_unit`).
        **unit_figures(campaign, metrics, session=session),
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
