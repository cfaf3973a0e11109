"""What each reporting unit has sent for a campaign, read from the by-unit rollup.

`campaigns progress` shows it beside who has reported: the rollup has one row per unit
and metric, so this is a read of a few hundred rows, never a scan of the tallies.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select as sql_select
from sqlmodel import Session, col

from campaigns.models import Campaign, UnitRollup
from campaigns.planning.participants import CampaignProgress, ParticipantState, progress_of
from campaigns.planning.units import load_directory


@dataclass
class UnitSent:
    """A unit's own totals per metric and how many tallies they came from."""

    totals: dict[str, int] = field(default_factory=dict)
    tallies: int = 0


def sent_by_unit(campaign_id: str, *, session: Session) -> dict[str, UnitSent]:
    """Unit code ("" for the organiser's own bureau) -> what it sent itself."""
    query = sql_select(
        col(UnitRollup.unit), col(UnitRollup.metric), col(UnitRollup.total), col(UnitRollup.tallies)
    ).where(col(UnitRollup.campaign_id) == campaign_id)
    sent: dict[str, UnitSent] = defaultdict(UnitSent)
    for unit, metric, total, tallies in session.execute(query):
        sent[unit].totals[metric] = int(total)
        sent[unit].tallies += int(tallies)
    return dict(sent)


@dataclass(frozen=True)
class UnitProgress:
    """A participant's report state with what it sent: its own plus its sub-units'."""

    state: ParticipantState
    totals: dict[str, int]
    tallies: int

    @property
    def status(self) -> str:
        """reported, late, waived or missing."""
        if self.state.waived:
            return "waived"
        if self.state.reported_at is None:
            return "missing"
        return "late" if self.state.late else "reported"


def campaign_progress(
    campaign: Campaign, *, session: Session
) -> tuple[CampaignProgress, list[UnitProgress]]:
    directory = load_directory(session=session)
    progress = progress_of(campaign, session=session, directory=directory)
    sent = sent_by_unit(campaign.id, session=session)
    rows = []
    for state in progress.participants:
        codes = [state.code, *directory.descendants(state.code)] if state.code in directory else []
        totals: dict[str, int] = defaultdict(int)
        tallies = 0
        for code in codes or [state.code]:
            own = sent.get(code)
            if own is None:
                continue
            tallies += own.tallies
            for metric, total in own.totals.items():
                totals[metric] += total
        rows.append(UnitProgress(state, dict(totals), tallies))
    return progress, rows
