"""Who takes part in a campaign, who has reported, and when its summary is due.

A participant has reported when it says so (`submit`), when an import for it is stored, or
when the organiser waives it. The final summary is due once the campaign is closed, none of
its accepted chunks is still waiting to be stored, and either every participant has reported
(or been waived) or the report-by deadline has passed. A campaign without participants is
due as soon as it closes, as it always was; a reopened one waits for its new deadline (or
`close`), never for completeness, which it already had.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from campaigns.audit import record_event
from campaigns.errors import ConflictError, InvalidInputError
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Participant,
    ReportHow,
    Summary,
    TallyChunkPending,
    UnitRollup,
    utcnow,
)
from campaigns.planning.unit_directory import UnitDirectory


def participant_codes(campaign_id: str, *, session: Session) -> list[str]:
    query = select(Participant.unit_code).where(Participant.campaign_id == campaign_id)
    return sorted(session.exec(query))


def add_participants(
    campaign_id: str, codes: Iterable[str], *, session: Session, actor: str, now: datetime
) -> list[str]:
    """Add the units (codes already resolved); returns those that were not taking part."""
    have = set(participant_codes(campaign_id, session=session))
    added = [code for code in dict.fromkeys(codes) if code not in have]
    for code in added:
        session.add(Participant(campaign_id=campaign_id, unit_code=code, added_at=now))
    if added:
        session.flush()
        record_event(
            "participants.added",
            session=session,
            actor=actor,
            campaign_id=campaign_id,
            data={"units": added},
            at=now,
        )
    return added


def remove_participants(
    campaign_id: str, codes: Iterable[str], *, session: Session, actor: str
) -> list[str]:
    removed = []
    for code in dict.fromkeys(codes):
        row = session.get(Participant, (campaign_id, code))
        if row is None:
            continue
        used = session.exec(
            select(UnitRollup.metric)
            .where(UnitRollup.campaign_id == campaign_id, UnitRollup.unit == code)
            .limit(1)
        ).first()
        if used is not None:
            raise ConflictError(f"unit {code} has tallies in {campaign_id}: it cannot be removed")
        session.delete(row)
        removed.append(code)
    if removed:
        record_event(
            "participants.removed",
            session=session,
            actor=actor,
            campaign_id=campaign_id,
            data={"units": removed},
        )
    return removed


def check_participating(
    campaign_id: str, codes: Iterable[str], *, session: Session, directory: UnitDirectory
) -> None:
    """Refuse a unit not taking part, naming those that do (a campaign without participants
    takes tallies for any unit, as it takes them without one)."""
    taking_part = participant_codes(campaign_id, session=session)
    if not taking_part:
        return
    outside = [code for code in dict.fromkeys(codes) if code not in taking_part]
    if outside:
        names = "、".join(directory.name_of(code) for code in outside)
        listed = "、".join(directory.name_of(code) for code in taking_part)
        raise InvalidInputError(
            f"{names} does not take part in {campaign_id}; those that do: {listed}"
        )


def mark_reported(
    campaign_id: str,
    codes: Iterable[str],
    *,
    how: ReportHow,
    session: Session,
    actor: str,
    now: datetime | None = None,
    reason: str | None = None,
) -> list[str]:
    """Record that the units reported (or were waived); returns those newly so.

    A compare-and-set on `reported_at IS NULL`: a redelivered chunk, a repeated `submit`
    or two racing workers record each unit once.
    """
    now = now or utcnow()
    newly = []
    for code in dict.fromkeys(codes):
        result = session.execute(
            update(Participant)
            .where(
                col(Participant.campaign_id) == campaign_id,
                col(Participant.unit_code) == code,
                col(Participant.reported_at).is_(None),
            )
            .values(reported_at=now, how=how.value, reason=reason)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            newly.append(code)
    if newly:
        record_event(
            f"participants.{how.value}",
            session=session,
            actor=actor,
            campaign_id=campaign_id,
            data={"units": newly, **({"reason": reason} if reason else {})},
            at=now,
        )
    return newly


def deadline_of(campaign: Campaign) -> datetime:
    """When reports stop being waited for: report-by when set, else the end."""
    return campaign.report_by or campaign.end_at


def deadline_text(deadline: datetime, zone: ZoneInfo) -> str:
    """A deadline as organisers write it: a local midnight is the end of the day before
    (2025-12-10 24:00, not 2025-12-11 00:00), since reports are accepted through that day."""
    local = deadline.astimezone(zone)
    if local.time() == time(0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


@dataclass(frozen=True, slots=True)
class ParticipantState:
    code: str
    name: str
    parent: str | None
    reported_at: datetime | None
    how: str | None
    reason: str | None
    late: bool

    @property
    def reported(self) -> bool:
        return self.how in (ReportHow.submitted, ReportHow.imported)

    @property
    def waived(self) -> bool:
        return self.how == ReportHow.waived


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    campaign_id: str
    deadline: datetime
    participants: list[ParticipantState]

    @property
    def reported(self) -> int:
        return sum(p.reported for p in self.participants)

    @property
    def waived(self) -> int:
        return sum(p.waived for p in self.participants)

    @property
    def missing(self) -> list[ParticipantState]:
        return [p for p in self.participants if p.reported_at is None]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def pct(self) -> float:
        return round(100 * self.reported / len(self.participants), 0) if self.participants else 100

    def line(self, lang: str = "zh") -> str:
        """ "5 of 7 units reported (71%)", or its Chinese form; "" without participants."""
        if not self.participants:
            return ""
        total, waived = len(self.participants), self.waived
        if lang == "zh":
            extra = f"，免报{waived}个" if waived else ""
            return f"{total}个单位中已报送{self.reported}个（{self.pct:.0f}%）{extra}"
        extra = f", {waived} waived" if waived else ""
        return f"{self.reported} of {total} units reported ({self.pct:.0f}%){extra}"


def progress_of(
    campaign: Campaign, *, session: Session, directory: UnitDirectory
) -> CampaignProgress:
    deadline = deadline_of(campaign)
    rows = session.exec(select(Participant).where(Participant.campaign_id == campaign.id)).all()
    states = []
    for row in rows:
        unit = directory.by_code.get(row.unit_code)
        states.append(
            ParticipantState(
                code=row.unit_code,
                name=unit.name if unit else row.unit_code,
                parent=unit.parent if unit else None,
                reported_at=row.reported_at,
                how=row.how,
                reason=row.reason,
                late=row.reported_at is not None
                and row.how != ReportHow.waived
                and row.reported_at >= deadline,
            )
        )
    order = {unit.code: i for i, (unit, _) in enumerate(directory.walk())}
    states.sort(key=lambda s: (order.get(s.code, len(order)), s.code))
    return CampaignProgress(campaign.id, deadline, states)


def chunks_waiting(campaign_id: str, *, session: Session) -> int:
    """Accepted chunks of the campaign not yet stored: the summary must not be compiled yet."""
    query = select(func.count()).where(col(TallyChunkPending.campaign_id) == campaign_id)
    return int(session.exec(query).one())


def summary_due(campaign: Campaign, *, session: Session, now: datetime) -> bool:
    if campaign.status != CampaignStatus.closed:
        return False
    if chunks_waiting(campaign.id, session=session):
        return False
    if now >= deadline_of(campaign):
        return True
    if campaign.report_by is None:
        # No deadline of its own: closed by hand before its end, with nothing to wait for.
        return True
    reported_before = session.exec(
        select(Summary.id).where(Summary.campaign_id == campaign.id, col(Summary.final)).limit(1)
    ).first()
    if reported_before is not None:
        return False
    waiting = session.exec(
        select(func.count()).where(
            col(Participant.campaign_id) == campaign.id, col(Participant.reported_at).is_(None)
        )
    ).one()
    has_any = session.exec(
        select(Participant.unit_code).where(Participant.campaign_id == campaign.id).limit(1)
    ).first()
    return has_any is not None and int(waiting) == 0
