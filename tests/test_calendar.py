"""`campaigns calendar YEAR --ics FILE`: an iCalendar file checked against RFC 5545's rules
(CRLF, 75-octet folding, nesting, required properties, escaping, all-day dates)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from campaigns.planning.ical import IcsEvent, calendar_text, events_from_calendar
from campaigns.planning.observances import year_calendar
from tests.conftest import Env

Component = dict[str, list[tuple[str, str]]]


def parse_ics(raw: bytes) -> tuple[Component, list[Component]]:
    """A strict little reader: fails on anything Outlook or a phone would choke on."""
    text = raw.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    physical = text.split("\r\n")[:-1]
    for line in physical:
        assert len(line.encode()) <= 75, f"unfolded line of {len(line.encode())} octets"
    logical: list[str] = []
    for line in physical:
        if line.startswith((" ", "\t")):
            logical[-1] += line[1:]
        else:
            logical.append(line)
    stack: list[tuple[str, Component]] = []
    calendar: Component = {}
    events: list[Component] = []
    for line in logical:
        name_params, sep, value = line.partition(":")
        assert sep, f"no value in {line!r}"
        name = name_params.split(";")[0].upper()
        if name == "BEGIN":
            stack.append((value, {}))
            continue
        if name == "END":
            kind, props = stack.pop()
            assert kind == value, f"END:{value} closes BEGIN:{kind}"
            if kind == "VEVENT":
                events.append(props)
            elif kind == "VCALENDAR":
                calendar = props
            continue
        assert stack, f"property outside any component: {line!r}"
        stack[-1][1].setdefault(name, []).append((name_params, value))
    assert not stack, "unclosed component"
    return calendar, events


def unescape(value: str) -> str:
    out, chars = [], iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars)
            out.append("\n" if nxt in "nN" else nxt)
        else:
            assert ch not in ",;", f"unescaped {ch!r} in {value!r}"
            out.append(ch)
    return "".join(out)


def one(props: Component, name: str) -> tuple[str, str]:
    values = props.get(name, [])
    assert len(values) == 1, f"{name}: expected once, found {len(values)}"
    return values[0]


def day(params_value: tuple[str, str]) -> date:
    params, value = params_value
    assert "VALUE=DATE" in params.upper() and len(value) == 8
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))


def test_every_line_and_event_follows_rfc_5545() -> None:
    long_title = "2019年" + "很长的宣传活动名称，含逗号;分号\\反斜杠" * 4
    events = [
        *events_from_calendar(year_calendar(2019)),
        IcsEvent("custom", date(2019, 12, 31), date(2020, 1, 2), long_title, "a\nb", "广场, 北区"),
    ]
    calendar, parsed = parse_ics(calendar_text(events, zone=ZoneInfo("Asia/Shanghai")).encode())
    assert one(calendar, "VERSION")[1] == "2.0" and one(calendar, "PRODID")
    assert len(parsed) == 5
    uids = [one(e, "UID")[1] for e in parsed]
    assert len(set(uids)) == 5
    for event, source in zip(parsed, events, strict=True):
        assert one(event, "DTSTAMP")[1].endswith("Z")
        first, end = day(one(event, "DTSTART")), day(one(event, "DTEND"))
        assert (first, end) == (source.first_day, source.last_day + timedelta(days=1))
        assert unescape(one(event, "SUMMARY")[1]) == source.summary
    assert unescape(one(parsed[-1], "LOCATION")[1]) == "广场, 北区"
    assert unescape(one(parsed[-1], "DESCRIPTION")[1]) == "a\nb"


def test_calendar_cli_writes_the_years_campaigns(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "2019.ics"
    env.ok(
        "create",
        "open-day",
        "--year",
        "2019",
        "--start",
        "2019-09-10",
        "--end",
        "2019-09-11",
        "--title",
        "科普开放日",
        "--venue",
        "科技馆",
    )
    shown = env.ok(
        "calendar",
        "2019",
        "--apply",
        "--sci-tech-week",
        "2019-05-19:2019-05-26",
        "--ics",
        str(path),
    )
    assert "wrote 5 events" in shown
    _, events = parse_ics(path.read_bytes())
    by_summary = {unescape(one(e, "SUMMARY")[1]): e for e in events}
    assert sorted(by_summary) == [
        "2019年世界知识产权日宣传活动",
        "2019年全民国家安全教育日宣传活动",
        "2019年国家宪法日宣传活动",
        "2019年科技活动周宣传活动",
        "科普开放日",
    ]
    week = by_summary["2019年科技活动周宣传活动"]
    assert day(one(week, "DTSTART")) == date(2019, 5, 19)
    assert day(one(week, "DTEND")) == date(2019, 5, 27)
    assert unescape(one(by_summary["科普开放日"], "LOCATION")[1]) == "科技馆"
    # Without the database's campaigns (before --apply) the four observances are written.
    env.ok("calendar", "2021", "--ics", str(tmp_path / "2021.ics"))
    _, future = parse_ics((tmp_path / "2021.ics").read_bytes())
    assert len(future) == 4
