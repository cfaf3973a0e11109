"""The built-in observances and their date rules; a year's calendar of all four.

Dates are local calendar days (inclusive); a campaign runs from local midnight of its
first day to local midnight after its last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from campaigns.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Observance:
    kind: str
    zh: str
    en: str
    rule_zh: str
    rule_en: str
    # Default metrics a campaign of this kind reports first, in this order.
    headline_metrics: tuple[str, ...]

    def default_dates(self, year: int) -> tuple[date, date]:
        return _RULES[self.kind](year)


def _third_sunday_of_may(year: int) -> tuple[date, date]:
    first = date(year, 5, 1)
    first_sunday = first + timedelta(days=(6 - first.weekday()) % 7)
    start = first_sunday + timedelta(weeks=2)
    return start, start + timedelta(days=7)


_RULES: dict[str, Callable[[int], tuple[date, date]]] = {
    # Set nationally each year (2019: 19–26 May); the default is the third Sunday of May
    # for eight days, and `--sci-tech-week START:END` overrides it.
    "sci-tech-week": _third_sunday_of_may,
    "national-security-day": lambda year: (date(year, 4, 15), date(year, 4, 15)),
    # The IP publicity week ends on World IP Day itself.
    "world-ip-day": lambda year: (date(year, 4, 20), date(year, 4, 26)),
    "constitution-day": lambda year: (date(year, 12, 1), date(year, 12, 7)),
}

OBSERVANCES: dict[str, Observance] = {
    o.kind: o
    for o in (
        Observance(
            "sci-tech-week",
            "科技活动周",
            "Science and Technology Week",
            "5月第三个星期日起8天（每年全国统一公布，可覆盖）",
            "8 days from the third Sunday of May (set nationally; overridable)",
            (
                "lectures",
                "trainees",
                "legal-services",
                "materials",
                "attendance",
                "units",
                "boards",
                "funding",
            ),
        ),
        Observance(
            "national-security-day",
            "全民国家安全教育日",
            "National Security Education Day",
            "4月15日",
            "15 April",
            ("attendance", "materials", "consultations", "boards"),
        ),
        Observance(
            "world-ip-day",
            "世界知识产权日",
            "World Intellectual Property Day",
            "4月26日及其前的宣传周（4月20日—26日）",
            "26 April, with the publicity week before it",
            ("boards", "materials", "consultations", "attendance"),
        ),
        Observance(
            "constitution-day",
            "国家宪法日",
            "Constitution Day",
            "12月4日，宪法宣传周12月1日—7日",
            "4 December, publicity week 1–7 December",
            ("attendance", "materials", "lectures", "consultations", "boards"),
        ),
    )
}


def get_observance(kind: str) -> Observance | None:
    return OBSERVANCES.get(kind)


def default_title(kind: str, year: int) -> str:
    observance = OBSERVANCES.get(kind)
    name = observance.zh if observance else kind
    return f"{year}年{name}宣传活动"


def parse_day(text: str, *, what: str) -> date:
    cleaned = text.strip().replace("/", "-")
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        pass
    try:
        return datetime.strptime(cleaned, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInputError(f"{what}: not a date (YYYY-MM-DD): {text!r}") from None


def parse_day_range(text: str, *, what: str) -> tuple[date, date]:
    start_text, sep, end_text = text.partition(":")
    if not sep:
        raise InvalidInputError(f"{what}: expected START:END, got {text!r}")
    start, end = parse_day(start_text, what=what), parse_day(end_text, what=what)
    if end < start:
        raise InvalidInputError(f"{what}: ends before it starts ({start} – {end})")
    return start, end


def local_bounds(first_day: date, last_day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) as aware datetimes: local midnight of the first day to that after the last."""
    start = datetime.combine(first_day, time(), zone)
    end = datetime.combine(last_day + timedelta(days=1), time(), zone)
    return start, end


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    campaign_id: str
    observance: Observance
    first_day: date
    last_day: date


def year_calendar(
    year: int, *, sci_tech_week: tuple[date, date] | None = None
) -> list[CalendarEntry]:
    entries = []
    for observance in OBSERVANCES.values():
        first, last = observance.default_dates(year)
        if observance.kind == "sci-tech-week" and sci_tech_week is not None:
            first, last = sci_tech_week
        entries.append(CalendarEntry(f"{year}-{observance.kind}", observance, first, last))
    return sorted(entries, key=lambda entry: entry.first_day)
