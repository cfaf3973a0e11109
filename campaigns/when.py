"""Reading the times people type: ISO dates and times, local to the campaign's timezone."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

from campaigns.errors import InvalidInputError

_CHINESE_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日\s*(.*)$")


def parse_when(text: str, *, zone: ZoneInfo, what: str = "--at") -> datetime:
    """An aware datetime; a naive time is local, a bare date means noon that day."""
    cleaned = text.strip()
    match = _CHINESE_DATE.match(cleaned)
    if match:
        year, month, day, rest = match.groups()
        cleaned = f"{year}-{int(month):02d}-{int(day):02d} {rest}".strip()
    cleaned = cleaned.replace("/", "-")
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InvalidInputError(
            f"{what}: not a date or time (e.g. 2019-04-26 or 2019-04-26T10:30): {text!r}"
        ) from None
    if len(cleaned) <= 10:
        value = datetime.combine(value.date(), time(12))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value
