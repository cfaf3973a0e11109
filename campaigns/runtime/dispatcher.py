"""The periodic step that moves every campaign along and finds work that fell through.

Each unit of work commits on its own, so one broken campaign does not hold up the rest,
and every step is guarded by the database (a compare-and-set transition, or a unique
row): running two dispatchers at once is safe. Nothing is scheduled ahead in the broker:
a campaign that ends in three weeks is simply found due by the pass after its end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from campaigns.delivery.deliveries import (
    create_deliveries,
    create_report_deliveries,
    due_deliveries,
)
from campaigns.delivery.reminders import queue_due_reminders
from campaigns.models import Campaign, CampaignStatus, Summary
from campaigns.planning.lifecycle import (
    awaiting_summary,
    due_for_digest,
    due_to_close,
    due_to_open,
    transition,
)
from campaigns.planning.participants import summary_due
from campaigns.reports.versions import (
    changed_since,
    compile_year_report,
    latest_year_report,
    year_report_due,
)
from campaigns.summaries.versions import compile_digest, compile_final_summary

log = logging.getLogger(__name__)

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass
class DispatchResult:
    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    reminded: int = 0
    year_reports: list[str] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)


def run_dispatch(
    sessions: SessionFactory,
    *,
    now: datetime,
    actor: str = "dispatcher",
    stale_after: timedelta = timedelta(minutes=5),
    digest_at: time | None = None,
    year_report_on: tuple[int, int] | None = None,
    zone: ZoneInfo | None = None,
    remind_before: timedelta | None = None,
) -> DispatchResult:
    """One pass at `now`. Returns the deliveries to enqueue: the caller sends them after commit.

    With `digest_at` (campaign-local time of day), running campaigns past it get that
    day's interim digest. With `year_report_on` (month, day in `zone`), the past year's
    report is sent from that day on, and again whenever it would read differently.
    With `remind_before`, participants that have not reported that long before their
    campaign's report-by deadline get their one reminder.
    """
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
    if digest_at is not None:
        with sessions() as session:
            due = due_for_digest(session=session, now=now, at=digest_at)
        for campaign_id, day in due:
            try:
                with sessions() as session:
                    digest = compile_digest(campaign_id, day, session=session, actor=actor, now=now)
                    queued = [] if digest is None else _queue(digest, session=session, now=now)
            except Exception:
                log.exception("the digest of %s failed; the next pass retries", campaign_id)
                continue
            # Only once committed: a rolled-back digest has no deliveries to send.
            if digest is not None:
                result.digests.append(campaign_id)
                result.deliveries += queued
    if remind_before is not None:
        try:
            with sessions() as session:
                reminders = queue_due_reminders(
                    session=session, now=now, before=remind_before, actor=actor
                )
            result.reminded = len(reminders)
            result.deliveries += reminders
        except Exception:
            log.exception("queueing reminders failed; the next pass retries")
    with sessions() as session:
        ids = awaiting_summary(session=session)
    for campaign_id in ids:
        try:
            compiled = compile_if_due(sessions, campaign_id, actor=actor, now=now)
        except Exception:
            log.exception("compiling the summary of %s failed; the next pass retries", campaign_id)
            continue
        # None: another dispatcher (or a compile task) won the transition.
        if compiled is not None:
            result.reported.append(campaign_id)
            result.deliveries += compiled
    today = now.astimezone(zone or ZoneInfo("Asia/Shanghai")).date()
    year = year_report_due(today, year_report_on)
    if year is not None:
        try:
            queued_report = compile_year_report_if_changed(sessions, year, now=now, dated=today)
        except Exception:
            log.exception("the year's report of %s failed; the next pass retries", year)
            queued_report = None
        if queued_report is not None:
            result.year_reports.append(f"{year} v{queued_report[0]}")
            result.deliveries += queued_report[1]
    with sessions() as session:
        result.deliveries += due_deliveries(session=session, now=now, stale_after=stale_after)
    return result


def compile_year_report_if_changed(
    sessions: SessionFactory, year: int, *, now: datetime, dated: date, **drafting: Any
) -> tuple[int, list[int]] | None:
    """(version, its deliveries) when a new version of `year`'s report was committed, or
    None: unchanged (or another dispatcher committed the same version first)."""
    with sessions() as session:
        latest = latest_year_report(year, session=session)
        if not changed_since(year, latest.compiled_at if latest else None, session=session):
            return None
    return force_year_report(sessions, year, now=now, dated=dated, **drafting)


def force_year_report(
    sessions: SessionFactory, year: int, *, now: datetime, dated: date, **drafting: Any
) -> tuple[int, list[int]] | None:
    """Compile a version and its deliveries in one transaction, if the report would read
    differently from the last version (`campaigns report YEAR --send` calls this directly)."""
    try:
        with sessions() as session:
            report = compile_year_report(year, session=session, now=now, dated=dated, **drafting)
            if report is None:
                return None
            deliveries = create_report_deliveries(report, session=session, now=now)
            return report.version, [d.id for d in deliveries if d.id is not None]
    except IntegrityError:
        return None


def compile_and_list(
    sessions: SessionFactory, campaign_id: str, *, actor: str, now: datetime
) -> list[int]:
    """Compile the summary if it is due; the ids of the deliveries it queued."""
    return compile_if_due(sessions, campaign_id, actor=actor, now=now) or []


def compile_if_due(
    sessions: SessionFactory, campaign_id: str, *, actor: str, now: datetime
) -> list[int] | None:
    """The deliveries of the summary compiled now (committed), or None if none was due:
    not while its participants' reports are awaited or accepted chunks wait to be stored."""
    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or not summary_due(campaign, session=session, now=now):
            return None
        # The transition below is an UPDATE: the campaign is read again after it.
        session.expire(campaign)
        summary = compile_final_summary(campaign_id, session=session, actor=actor, now=now)
        queued = None if summary is None else _queue(summary, session=session, now=now)
    return queued


def _queue(summary: Summary, *, session: Session, now: datetime) -> list[int]:
    """Delivery rows for every recipient, in the summary's own transaction: both or neither."""
    deliveries = create_deliveries(summary, session=session, now=now)
    return [delivery.id for delivery in deliveries if delivery.id is not None]
