"""Versions of the year's report as sent: compiled when due, again only when it would change.

A version freezes what leadership receives: the Chinese and English text, the .docx and the
PDF. Its `fingerprint` is a hash of what the report says (heading, paragraphs, appendix),
not of when it was drafted, so compiling again with nothing changed makes no version; a
correction to any campaign of the year (a new final summary) changes the figures, and the
next compile makes version N+1, whose `changes` say which figures moved.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from campaigns.models import Campaign, Summary, YearReportVersion
from campaigns.reports.render import as_html, as_markdown, as_text, build_year_report
from campaigns.reports.section import YearReport


def latest_year_report(year: int, *, session: Session) -> YearReportVersion | None:
    return session.exec(
        select(YearReportVersion)
        .where(YearReportVersion.year == year)
        .order_by(col(YearReportVersion.version).desc())
        .limit(1)
    ).first()


def list_year_reports(year: int, *, session: Session) -> list[YearReportVersion]:
    return list(
        session.exec(
            select(YearReportVersion)
            .where(YearReportVersion.year == year)
            .order_by(col(YearReportVersion.version))
        )
    )


def compile_year_report(
    year: int, *, session: Session, now: datetime, dated: date, **drafting: Any
) -> YearReportVersion | None:
    """A new version of `year`'s report, or None when it would say what the last one says.

    `drafting`: heading, groups, order, exact, as `campaigns report` takes them.
    """
    from campaigns.reports.gbt9704 import write_docx
    from campaigns.reports.pdf import write_pdf

    zh = build_year_report(year, session=session, lang="zh", dated=dated, now=now, **drafting)
    en = build_year_report(year, session=session, lang="en", dated=dated, now=now, **drafting)
    fingerprint = _fingerprint(zh, en)
    latest = latest_year_report(year, session=session)
    if latest is not None and latest.fingerprint == fingerprint:
        return None
    figures = appendix_figures(zh)
    changes = None
    if latest is not None:
        changes = describe_changes(json.loads(latest.body)["figures"], figures, latest.version)
    body = {
        "title": zh.title,
        "zh_text": as_text(zh),
        "en_text": as_text(en),
        "zh_html": as_html(zh),
        "zh_markdown": as_markdown(zh),
        "figures": figures,
    }
    next_version = 1 + int(
        session.exec(
            select(func.coalesce(func.max(YearReportVersion.version), 0)).where(
                YearReportVersion.year == year
            )
        ).one()
    )
    # Two dispatchers racing here: the unique (year, version) lets one of them win.
    report = YearReportVersion(
        year=year,
        version=next_version,
        fingerprint=fingerprint,
        body=json.dumps(body, ensure_ascii=False),
        changes=changes,
        docx=write_docx(zh),
        pdf=write_pdf(zh),
        compiled_at=now,
    )
    session.add(report)
    session.flush()
    return report


def _fingerprint(*reports: YearReport) -> str:
    said: list[Any] = []
    for report in reports:
        said += [report.title, report.heading, report.body, appendix_figures(report)]
    return hashlib.sha256(json.dumps(said, ensure_ascii=False).encode()).hexdigest()


def appendix_figures(report: YearReport) -> dict[str, dict[str, str]]:
    """Every exact figure of the appendix: campaign -> metric -> figure as printed."""
    return {block.campaign: {row[0]: row[1] for row in block.rows} for block in report.appendix}


def describe_changes(
    before: dict[str, dict[str, str]], after: dict[str, dict[str, str]], from_version: int
) -> str | None:
    """较第1版：科技活动周发放宣传资料10240份改为10540份；… (None when no figure moved)."""
    moved = []
    for campaign in after:
        old, new = before.get(campaign), after[campaign]
        if old is None:
            moved.append(f"增加{campaign}")
            continue
        moved += [
            f"{campaign}{metric}{old.get(metric, '无')}改为{value}"
            for metric, value in new.items()
            if old.get(metric) != value
        ]
    moved += [f"删去{campaign}" for campaign in before if campaign not in after]
    return f"较第{from_version}版：" + "；".join(moved) + "。" if moved else None


def changed_since(year: int, moment: datetime | None, *, session: Session) -> bool:
    """Whether any campaign of `year` or its summaries moved after `moment` (None: ever),
    so the dispatcher drafts the report again only then."""
    latest_change = session.exec(
        select(func.max(Campaign.updated_at)).where(Campaign.year == year)
    ).one()
    latest_summary = session.exec(
        select(func.max(Summary.compiled_at))
        .join(Campaign, col(Campaign.id) == col(Summary.campaign_id))
        .where(Campaign.year == year, col(Summary.final).is_(True))
    ).one()
    if latest_change is None:
        return False  # no campaign that year: no report
    moments = [m for m in (latest_change, latest_summary) if m is not None]
    return moment is None or max(moments) > moment


def year_report_due(today: date, on: tuple[int, int] | None) -> int | None:
    """The year whose report is due on `today` (from `on`, (month, day), each year on)."""
    if on is None:
        return None
    return today.year - 1 if (today.month, today.day) >= on else None
