"""The year's campaigns as an iCalendar file (RFC 5545) that Outlook and phones import.

Campaigns are all-day events (DTSTART/DTEND as VALUE=DATE, DTEND exclusive), which every
client shows on the right local days without a VTIMEZONE block. Lines end in CRLF and
fold at 75 octets without splitting a UTF-8 character; text values are escaped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from campaigns.models import Campaign
from campaigns.planning.campaigns import local_days
from campaigns.planning.observances import CalendarEntry, get_observance


@dataclass(frozen=True, slots=True)
class IcsEvent:
    campaign_id: str
    first_day: date
    last_day: date
    summary: str
    description: str
    location: str | None = None


def events_from_calendar(entries: Iterable[CalendarEntry]) -> list[IcsEvent]:
    return [
        IcsEvent(
            entry.campaign_id,
            entry.first_day,
            entry.last_day,
            f"{entry.first_day.year}年{entry.observance.zh}",
            f"{entry.observance.en} ({entry.campaign_id}): {entry.observance.rule_zh}",
        )
        for entry in entries
    ]


def events_from_campaigns(campaigns: Iterable[Campaign]) -> list[IcsEvent]:
    events = []
    for campaign in campaigns:
        first, last = local_days(campaign)
        observance = get_observance(campaign.kind)
        kind = observance.en if observance else campaign.kind
        events.append(
            IcsEvent(
                campaign.id,
                first,
                last,
                campaign.title,
                f"{kind} ({campaign.id}), {campaign.status}",
                campaign.venue,
            )
        )
    return events


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _fold(line: str) -> list[str]:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    out: list[str] = []
    current = b""
    for ch in line:
        encoded = ch.encode()
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode())
            current = b""
        current += encoded
    out.append(current.decode())
    return [out[0], *(" " + part for part in out[1:])]


def calendar_text(
    events: Sequence[IcsEvent], *, zone: ZoneInfo, now: datetime | None = None
) -> str:
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//campaigns//publicity calendar//ZH",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape('宣传活动 publicity campaigns')}",
        f"X-WR-TIMEZONE:{zone.key}",
    ]
    for event in events:
        # Stable per campaign id: importing a newer file updates events instead of doubling them.
        uid = hashlib.sha1(event.campaign_id.encode()).hexdigest()
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}@campaigns",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{event.first_day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{event.last_day + timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_escape(event.summary)}",
            f"DESCRIPTION:{_escape(event.description)}",
        ]
        if event.location:
            lines.append(f"LOCATION:{_escape(event.location)}")
        lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))


def write_ics(events: Sequence[IcsEvent], path: Path, *, zone: ZoneInfo) -> Path:
    path.write_text(calendar_text(events, zone=zone), encoding="utf-8", newline="")
    return path
