"""Running totals of a campaign per metric, read from the day rollups (never from tallies)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from campaigns.models import DayRollup


@dataclass(frozen=True, slots=True)
class MetricTotal:
    total: int
    tallies: int
    corrections: int


def totals(campaign_id: str, *, session: Session) -> dict[str, MetricTotal]:
    """Per metric: net total (corrections included), tally count and the corrections' sum."""
    query = (
        select(
            DayRollup.metric,
            DayRollup.is_correction,
            func.sum(DayRollup.total),
            func.sum(DayRollup.tallies),
        )
        .where(DayRollup.campaign_id == campaign_id)
        .group_by(DayRollup.metric, DayRollup.is_correction)  # type: ignore[arg-type]
    )
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for metric, is_correction, total, count in session.exec(query):
        acc[metric][0] += int(total)
        if is_correction:
            acc[metric][2] += int(total)
        else:
            acc[metric][1] += int(count)
    return {metric: MetricTotal(*values) for metric, values in sorted(acc.items())}
