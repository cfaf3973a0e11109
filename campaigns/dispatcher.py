"""The periodic step that moves every campaign along and finds work that fell through.

Each unit of work commits on its own, so one broken campaign does not hold up the rest,
and every step is a compare-and-set: running two dispatchers at once is safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from campaigns.delivery import due_deliveries
from campaigns.lifecycle import awaiting_summary, due_to_close, due_to_open, transition
from campaigns.models import CampaignStatus, Delivery
from campaigns.summary import compile_final_summary

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass
class DispatchResult:
    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)


def run_dispatch(
    sessions: SessionFactory,
    *,
    now: datetime,
    actor: str = "dispatcher",
    stale_after: timedelta = timedelta(minutes=5),
) -> DispatchResult:
    """One pass. Returns the deliveries to enqueue: the caller sends them after commit."""
    result = DispatchResult()
    with sessions() as session:
        ids = due_to_open(session=session, now=now)
    for campaign_id in ids:
        with sessions() as session:
            if transition(
                campaign_id,
                CampaignStatus.scheduled,
                CampaignStatus.running,
                session=session,
                actor=actor,
                now=now,
            ):
                result.opened.append(campaign_id)
    with sessions() as session:
        ids = due_to_close(session=session, now=now)
    for campaign_id in ids:
        with sessions() as session:
            if transition(
                campaign_id,
                (CampaignStatus.scheduled, CampaignStatus.running),
                CampaignStatus.closed,
                session=session,
                actor=actor,
                now=now,
            ):
                result.closed.append(campaign_id)
    with sessions() as session:
        ids = awaiting_summary(session=session)
    for campaign_id in ids:
        try:
            result.deliveries += compile_and_list(sessions, campaign_id, actor=actor, now=now)
            result.reported.append(campaign_id)
        except Exception:
            log.exception("compiling the summary of %s failed; the next pass retries", campaign_id)
    with sessions() as session:
        result.deliveries += due_deliveries(session=session, now=now, stale_after=stale_after)
    return result


def compile_and_list(
    sessions: SessionFactory, campaign_id: str, *, actor: str, now: datetime
) -> list[int]:
    """Compile the summary if it is due; the ids of the deliveries it queued."""
    with sessions() as session:
        summary = compile_final_summary(campaign_id, session=session, actor=actor, now=now)
        if summary is None:
            return []
        query = select(Delivery.id).where(Delivery.summary_id == summary.id)
        return [delivery_id for delivery_id in session.exec(query) if delivery_id is not None]
