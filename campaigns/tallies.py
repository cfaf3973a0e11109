"""Recording tallies: validation against the campaign, idempotent storage, running totals.

Every tally carries a key unique within its campaign; storing is insert-or-ignore on that
key, so a tally sent twice (a retried task, a file imported again) counts once. The rollup
table is updated in the same transaction from exactly the rows that were inserted, so
totals never drift from the tally rows and never need a scan of them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from campaigns.errors import ConflictError, InvalidInputError
from campaigns.models import Campaign, CampaignStatus, Tally, TallyRollup, utcnow

ACCEPTING = {CampaignStatus.scheduled, CampaignStatus.running, CampaignStatus.closed}


@dataclass(frozen=True, slots=True)
class NewTally:
    metric: str
    quantity: int
    occurred_at: datetime
    key: str
    item: str | None = None
    venue: str | None = None
    recorded_by: str | None = None
    note: str | None = None
    is_correction: bool = False
    reason: str | None = None
    source: str = "cli"

    def to_message(self) -> dict[str, Any]:
        """JSON-safe form for the broker."""
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        return data

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> NewTally:
        return cls(**{**data, "occurred_at": datetime.fromisoformat(data["occurred_at"])})


def derive_key(campaign_id: str, *parts: object) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in (campaign_id, *parts):
        digest.update(repr(part).encode())
        digest.update(b"\x1f")
    return digest.hexdigest()


def check_accepting(campaign: Campaign) -> None:
    if campaign.status == CampaignStatus.reported:
        raise ConflictError(
            f"campaign {campaign.id!r} is reported: reopen it first (`campaigns reopen`)"
        )
    if campaign.status not in ACCEPTING:
        raise ConflictError(f"campaign {campaign.id!r} is {campaign.status}: no tallies accepted")


def check_within(campaign: Campaign, occurred_at: datetime, *, where: str) -> None:
    if not campaign.start_at <= occurred_at < campaign.end_at:
        zone = ZoneInfo(campaign.timezone)
        start = campaign.start_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        end = campaign.end_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        shown = occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        raise InvalidInputError(f"{where}: {shown} is outside the campaign ({start} – {end})")


def check_quantity(quantity: int, *, correction: bool, where: str) -> None:
    if correction:
        if quantity == 0:
            raise InvalidInputError(f"{where}: a correction of 0 changes nothing")
    elif quantity <= 0:
        raise InvalidInputError(f"{where}: quantity must be a positive whole number")
    if abs(quantity) > 10**12:
        raise InvalidInputError(f"{where}: quantity {quantity} is implausibly large")


def store_tallies(campaign: Campaign, tallies: Sequence[NewTally], *, session: Session) -> int:
    """Insert the tallies not stored before and add them to the rollups; returns how many."""
    if not tallies:
        return 0
    zone = ZoneInfo(campaign.timezone)
    now = utcnow()
    rows = [
        {
            **asdict(t),
            "campaign_id": campaign.id,
            "day": t.occurred_at.astimezone(zone).date(),
            "created_at": now,
        }
        for t in tallies
    ]
    insert = _dialect_insert(session, Tally)
    statement = insert.on_conflict_do_nothing(index_elements=["campaign_id", "key"]).returning(
        Tally.metric, Tally.day, Tally.venue, Tally.is_correction, Tally.quantity
    )
    inserted = session.execute(statement, rows).all()
    _add_to_rollups(campaign.id, inserted, session=session)
    return len(inserted)


def _add_to_rollups(campaign_id: str, inserted: Iterable[Any], *, session: Session) -> None:
    sums: dict[tuple[str, date, str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for metric, day, venue, is_correction, quantity in inserted:
        bucket = sums[(metric, day, venue or "", bool(is_correction))]
        bucket[0] += quantity
        bucket[1] += 1
    if not sums:
        return
    # A fixed order keeps concurrent workers from deadlocking on each other's rollup rows.
    values = [
        {
            "campaign_id": campaign_id,
            "metric": metric,
            "day": day,
            "venue": venue,
            "is_correction": is_correction,
            "total": total,
            "tallies": count,
        }
        for (metric, day, venue, is_correction), (total, count) in sorted(sums.items())
    ]
    insert = _dialect_insert(session, TallyRollup)
    statement = insert.on_conflict_do_update(
        index_elements=["campaign_id", "metric", "day", "venue", "is_correction"],
        set_={
            "total": TallyRollup.total + insert.excluded.total,
            "tallies": TallyRollup.tallies + insert.excluded.tallies,
        },
    )
    session.execute(statement, values)


def _dialect_insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass(frozen=True, slots=True)
class MetricTotal:
    total: int
    tallies: int
    corrections: int


def totals(campaign_id: str, *, session: Session) -> dict[str, MetricTotal]:
    """Per metric: net total (corrections included), tally count and the corrections' sum."""
    query = (
        select(
            TallyRollup.metric,
            TallyRollup.is_correction,
            func.sum(TallyRollup.total),
            func.sum(TallyRollup.tallies),
        )
        .where(TallyRollup.campaign_id == campaign_id)
        .group_by(TallyRollup.metric, TallyRollup.is_correction)  # type: ignore[arg-type]
    )
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for metric, is_correction, total, count in session.exec(query):
        acc[metric][0] += int(total)
        if is_correction:
            acc[metric][2] += int(total)
        else:
            acc[metric][1] += int(count)
    return {metric: MetricTotal(*values) for metric, values in sorted(acc.items())}


def breakdown(campaign_id: str, *, session: Session, by: str) -> dict[str, dict[str, int]]:
    """Per metric, net totals by local day (`by="day"`) or by venue (`by="venue"`)."""
    column: Any = TallyRollup.day if by == "day" else TallyRollup.venue
    query = (
        select(TallyRollup.metric, column, func.sum(TallyRollup.total))
        .where(TallyRollup.campaign_id == campaign_id)
        .group_by(TallyRollup.metric, column)
    )
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for metric, bucket, total in session.exec(query):
        result[metric][str(bucket)] = int(total)
    return {metric: dict(sorted(values.items())) for metric, values in sorted(result.items())}


def stored_keys(campaign_id: str, keys: Sequence[str], *, session: Session) -> set[str]:
    """Which of these keys are stored: how `--wait` and the sweeper know a tally counted."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        query = select(Tally.key).where(Tally.campaign_id == campaign_id, Tally.key.in_(batch))  # type: ignore[attr-defined]
        found.update(session.exec(query))
    return found
