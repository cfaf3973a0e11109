"""The year's campaigns as an iCalendar file (RFC 5545) that Outlook and phones import."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from campaigns.observances import CalendarEntry


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


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


def calendar_text(entries: Sequence[CalendarEntry], *, zone: ZoneInfo) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//campaigns//publicity calendar//ZH",
        "CALSCALE:GREGORIAN",
        f"X-WR-TIMEZONE:{zone.key}",
    ]
    for entry in entries:
        uid = hashlib.sha1(entry.campaign_id.encode()).hexdigest()
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}@campaigns",
            f"DTSTAMP:{stamp}",
            # All-day events: DTEND is exclusive, the day after the last day.
            f"DTSTART;VALUE=DATE:{entry.first_day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{entry.last_day + timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_escape(f'{entry.first_day.year}年{entry.observance.zh}')}",
            f"DESCRIPTION:{_escape(f'{entry.observance.en} ({entry.campaign_id})')}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))


def write_ics(entries: Sequence[CalendarEntry], path: Path, *, zone: ZoneInfo) -> Path:
    path.write_text(calendar_text(entries, zone=zone), encoding="utf-8", newline="")
    return path
