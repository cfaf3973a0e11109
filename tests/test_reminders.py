"""Reminders before the report-by deadline, on SQLite and PostgreSQL: one per unit that has
not reported, sent through the real delivery path to a real SMTP server or a robot's URL.

`queue_due_reminders` is what the dispatcher runs; `attempt_delivery` is what the worker's
task runs, both called here with a clock of the test's choosing. One installation per
database serves the module; each test has its own units (under a city of its own) and
campaign.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from campaigns.audit import list_events
from campaigns.db import make_engine, session_scope
from campaigns.delivery.attempts import attempt_delivery
from campaigns.delivery.deliveries import list_deliveries
from campaigns.delivery.reminders import queue_due_reminders
from campaigns.models import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    Recipient,
    Reminder,
    ReportHow,
)
from campaigns.planning.campaigns import CampaignSpec, create_campaign
from campaigns.planning.participants import add_participants, mark_reported
from campaigns.planning.units import UnitRow, import_units
from campaigns.settings import Settings, get_settings
from tests.conftest import Env, make_env
from tests.http_server import HttpTestServer, http_server_fixture  # noqa: F401  (fixture)
from tests.servers import fresh_database
from tests.smtp_server import SmtpTestServer

# 2025-12-10 24:00 in Shanghai: reports are accepted through the 10th.
REPORT_BY = datetime(2025, 12, 10, 16, 0, tzinfo=UTC)
WITHIN = REPORT_BY - timedelta(hours=12)
BEFORE = timedelta(hours=24)
SUBJECT = "【催报】关于报送2025年宪法宣传周活动统计表的提醒"
QIXIAN_TEXT = (
    "淇县：2025年宪法宣传周活动（12月1日—7日）统计表填报截止时间为12月10日24时，"
    "目前尚未收到贵单位的统计表，请于截止前报送。"
)


@pytest.fixture(name="shared_env", scope="module", params=["sqlite", "postgresql"])
def shared_env_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("reminders")
    if request.param == "sqlite":
        yield make_env(f"sqlite:///{directory / 'campaigns.db'}", directory / "data")
        return
    with fresh_database(request.getfixturevalue("postgres_server_url")) as url:
        yield make_env(url, directory / "data")


_numbers = itertools.count(1)


@dataclass
class City:
    """A city of three counties taking part in one Constitution Week campaign."""

    engine: Engine
    data_dir: Path
    campaign_id: str
    codes: dict[str, str]

    def sessions(self) -> Any:
        return session_scope(self.engine)

    def settings(self, smtp: SmtpTestServer | None = None) -> Settings:
        values: dict[str, Any] = {
            "data_dir": self.data_dir,
            "mail_from": "publicity@bureau.example",
            "delivery_smtp_timeout_seconds": 5.0,
        }
        if smtp is not None:
            values["smtp_url"] = f"smtp://{smtp.host}:{smtp.port}"
        return Settings(_env_file=None, **values)

    def queue(self, now: datetime = WITHIN) -> list[int]:
        with self.sessions() as session:
            return queue_due_reminders(session=session, now=now, before=BEFORE, actor="tester")

    def send(self, delivery_id: int, settings: Settings) -> str:
        delivery = attempt_delivery(
            delivery_id, sessions=self.sessions, settings=settings, clock=lambda: WITHIN
        )
        assert delivery is not None
        return str(delivery.status)

    def reminders(self) -> list[tuple[str, datetime]]:
        with self.sessions() as session:
            rows = session.exec(
                select(Reminder).where(Reminder.campaign_id == self.campaign_id)
            ).all()
            return sorted((r.unit_code, r.report_by) for r in rows)

    def events(self, kind: str) -> list[dict[str, Any]]:
        with self.sessions() as session:
            return [
                json.loads(e.data)
                for e in list_events(session=session, campaign_id=self.campaign_id)
                if e.kind == kind
            ]


def make_city(env: Env, contacts: dict[str, str | None]) -> City:
    """Units under a city of their own, all taking part; 鹤山区 has already reported."""
    n = next(_numbers)
    codes = {name: f"41{n:02d}{i:02d}" for i, name in enumerate(["市", *contacts])}
    city = f"41{n:02d}00"
    rows = [UnitRow(city, f"鹤壁市{n}", None, None, "units.csv:2")] + [
        UnitRow(codes[name], name, city, contact, f"units.csv:{i + 3}")
        for i, (name, contact) in enumerate(contacts.items())
    ]
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    campaign_id = f"constitution-{n}"
    with session_scope(engine) as session:
        import_units(rows, session=session, actor="tester")
        campaign = create_campaign(
            CampaignSpec(
                kind="constitution-day",
                year=2025,
                first_day=date(2025, 12, 1),
                last_day=date(2025, 12, 7),
                title="2025年宪法宣传周",
                campaign_id=campaign_id,
            ),
            session=session,
            actor="tester",
        )
        campaign.report_by = REPORT_BY
        session.add(campaign)
        add_participants(
            campaign_id,
            [codes[name] for name in contacts],
            session=session,
            actor="tester",
            now=REPORT_BY - timedelta(days=20),
        )
        if "鹤山区" in contacts:
            mark_reported(
                campaign_id, [codes["鹤山区"]], how=ReportHow.submitted, session=session, actor="t"
            )
    return City(engine, env.data_dir, campaign_id, codes)


@pytest.fixture(name="make")
def make_fixture(shared_env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # The Message-ID's domain comes from the process's settings.
    monkeypatch.setenv("CAMPAIGNS_MAIL_FROM", "publicity@bureau.example")
    get_settings.cache_clear()
    made: list[City] = []

    def make(contacts: dict[str, str | None]) -> City:
        made.append(make_city(shared_env, contacts))
        return made[-1]

    yield make
    for city in made:
        city.engine.dispose()
    get_settings.cache_clear()


THREE = {
    "淇县": "qixian@example.cn",
    "浚县": "xunxian@example.cn",
    "鹤山区": "heshan@example.cn",
}


def test_each_missing_unit_gets_one_reminder_by_mail(
    make: Any, smtp_server: SmtpTestServer
) -> None:
    city = make(THREE)
    ids = city.queue()
    assert len(ids) == 2
    # The next pass (and the one after) finds them reminded.
    assert city.queue() == []
    assert city.queue(WITHIN + timedelta(hours=6)) == []
    assert city.reminders() == [(city.codes["淇县"], REPORT_BY), (city.codes["浚县"], REPORT_BY)]
    settings = city.settings(smtp_server)
    assert [city.send(i, settings) for i in ids] == ["sent", "sent"]
    by_rcpt = {m.rcpt_tos[0]: m.message for m in smtp_server.messages}
    assert sorted(by_rcpt) == ["qixian@example.cn", "xunxian@example.cn"]
    mail = by_rcpt["qixian@example.cn"]
    assert mail["Subject"] == SUBJECT
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and html is not None
    text = plain.get_content()
    assert text.startswith(QIXIAN_TEXT)
    assert "Reminder to 淇县: the report sheet of 2025年宪法宣传周" in text
    assert "due by 2025-12-10 24:00 (Asia/Shanghai)" in text
    assert QIXIAN_TEXT in html.get_content()
    other = by_rcpt["xunxian@example.cn"].get_body(("plain",))
    assert other is not None and other.get_content().startswith("浚县：")

    with city.sessions() as session:
        rows = list_deliveries(session=session, campaign_id=city.campaign_id)
    assert sorted(r.what for r in rows) == ["催报 浚县", "催报 淇县"]
    assert {r.campaign_id for r in rows} == {city.campaign_id}
    assert all(r.delivery.status == DeliveryStatus.sent for r in rows)
    queued = city.events("reminder.queued")
    assert sorted(e["name"] for e in queued) == ["浚县", "淇县"]
    # The worker's outcome is in the campaign's own log.
    assert len(city.events("delivery.sent")) == 2


def test_none_outside_the_window_or_once_reported(make: Any) -> None:
    city = make(THREE)
    assert city.queue(REPORT_BY - BEFORE - timedelta(minutes=1)) == []
    assert city.queue(REPORT_BY) == []
    assert city.queue(REPORT_BY + timedelta(days=1)) == []
    assert city.reminders() == []
    with city.sessions() as session:
        campaign = session.get(Campaign, city.campaign_id)
        assert campaign is not None
        campaign.status = CampaignStatus.reported
        session.add(campaign)
    assert city.queue() == []
    with city.sessions() as session:
        campaign = session.get(Campaign, city.campaign_id)
        assert campaign is not None
        campaign.status = CampaignStatus.closed
        session.add(campaign)
        mark_reported(
            city.campaign_id,
            [city.codes["浚县"]],
            how=ReportHow.imported,
            session=session,
            actor="t",
        )
    # At the window's first instant: only the unit still missing.
    assert len(city.queue(REPORT_BY - BEFORE)) == 1
    assert city.reminders() == [(city.codes["淇县"], REPORT_BY)]


def test_racing_dispatchers_remind_each_unit_once(make: Any) -> None:
    city = make(THREE)
    first = Session(city.engine, expire_on_commit=False)
    got: dict[str, list[int]] = {}
    try:
        got["first"] = queue_due_reminders(
            session=first, now=WITHIN, before=BEFORE, actor="dispatcher-1"
        )

        def second() -> None:
            # Starts while the first holds its rows uncommitted: on PostgreSQL it finds the
            # same units due and waits on their locks; on SQLite it waits for the write lock.
            got["second"] = city.queue()

        racer = threading.Thread(target=second)
        racer.start()
        racer.join(timeout=1.5)
        assert racer.is_alive(), "the second dispatcher did not wait for the first"
        first.commit()
        racer.join(timeout=30)
        assert not racer.is_alive()
    finally:
        first.close()
    assert len(got["first"]) == 2
    assert got["second"] == []
    assert len(city.reminders()) == 2
    with city.sessions() as session:
        rows = list_deliveries(session=session, campaign_id=city.campaign_id)
        # One recipient per unit, though both dispatchers looked for its contact.
        contacts = session.exec(
            select(func.count())
            .select_from(Recipient)
            .where(col(Recipient.unit_code).in_(city.codes.values()))
        ).one()
    assert sorted(r.what for r in rows) == ["催报 浚县", "催报 淇县"]
    assert contacts == 2


def test_a_robot_contact_gets_a_short_post(make: Any, http_server: HttpTestServer) -> None:
    city = make({"淇县": f"{http_server.url}/hook/secret-token", "浚县": None})
    (delivery_id,) = city.queue()
    http_server.enqueue(200, {"ok": True})
    assert city.send(delivery_id, city.settings()) == "sent"
    (request,) = http_server.requests
    assert request.path == "/hook/secret-token"
    body = request.json
    assert body["title"] == SUBJECT
    assert (
        body["text"]
        == "【催报】淇县：2025年宪法宣传周活动统计表请于12月10日24时前报送，目前尚未收到。"
    )
    assert body["campaign_id"] == city.campaign_id
    assert body["reminder"] == city.codes["淇县"]
    with city.sessions() as session:
        (row,) = list_deliveries(session=session, campaign_id=city.campaign_id)
    assert (row.what, row.recipient.channel, row.recipient.unit_code) == (
        "催报 淇县",
        "webhook",
        city.codes["淇县"],
    )
    # The unit without a contact: recorded for the organiser, once, never sent.
    city.queue()
    (skipped,) = city.events("reminder.no_contact")
    assert (skipped["name"], skipped["why"]) == ("浚县", "no contact")
    assert len(city.reminders()) == 2


def test_a_hostile_unit_name_is_escaped_and_a_broken_subject_refused(
    make: Any, smtp_server: SmtpTestServer
) -> None:
    city = make({"<b>淇县</b>": "qixian@example.cn"})
    (delivery_id,) = city.queue()
    settings = city.settings(smtp_server)
    assert city.send(delivery_id, settings) == "sent"
    html = smtp_server.messages[0].message.get_body(("html",))
    assert html is not None
    assert "&lt;b&gt;淇县&lt;/b&gt;：" in html.get_content()
    assert "<b>" not in html.get_content()

    other = make({"淇县": "qixian@example.cn"})
    with other.sessions() as session:
        campaign = session.get(Campaign, other.campaign_id)
        assert campaign is not None
        campaign.title = "2025年宪法宣传周\r\nBcc: all@example.cn"
        session.add(campaign)
    (delivery_id,) = other.queue()
    assert other.send(delivery_id, settings) == "failed"
    assert len(smtp_server.messages) == 1
    with other.sessions() as session:
        (row,) = list_deliveries(session=session, campaign_id=other.campaign_id)
        assert "header Subject" in (row.delivery.last_error or "")
        assert (
            session.exec(
                select(func.count())
                .select_from(Reminder)
                .where(col(Reminder.campaign_id) == other.campaign_id)
            ).one()
            == 1
        )
