"""Reading the dates and times people type, in the forms Chinese offices write them.

One parser for `--at` and for import files, so the same text means the same moment in both:
ISO (`2019-04-15`, `2019-04-15 10:30`, `2019-04-15T10:30:00+08:00`), `2019/4/15 10:30`,
`2019年4月15日`, `2019年4月15日 10时30分`. A date alone is the start of that day; a time
without an offset is local to the campaign's timezone.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from campaigns.errors import InvalidInputError

_LOCAL_DATE = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:\s+|T|\s*(?=\d))(?:"
    r"(?P<H>\d{1,2})[:：](?P<M>\d{2})(?:[:：](?P<S>\d{2}))?"
    r"|(?P<cH>\d{1,2})\s*[时点](?:\s*(?P<cM>\d{1,2})\s*分)?"
    r"))?"
)


def parse_local(text: str) -> datetime | None:
    """The moment `text` names (naive when it gives no offset), or None if it names none."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    match = _LOCAL_DATE.fullmatch(text)
    if match is None:
        return None
    hour = match["H"] or match["cH"] or "0"
    minute = match["M"] or match["cM"] or "0"
    try:
        return datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(hour),
            int(minute),
            int(match["S"] or "0"),
        )
    except ValueError:
        return None


def parse_when(text: str, *, zone: ZoneInfo, what: str = "--at") -> datetime:
    """An aware datetime; without an offset the time is local to `zone`."""
    value = parse_local(text.strip())
    if value is None:
        raise InvalidInputError(
            f"{what}: not a date or time (e.g. 2019-04-26 or 2019-04-26 10:30): {text!r}"
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)
