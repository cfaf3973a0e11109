"""Email delivery attempts on a real database (SQLite and PostgreSQL) and a real SMTP server.

Each test drives `campaigns.delivery.attempts.attempt_delivery`, the function the worker's task
runs, in this process, with a controllable clock; tests/test_delivery_worker.py runs the
same path through a real worker. One installation per database serves the whole module
(each test has a campaign of its own): `campaigns init` is the slow part of a setup.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from campaigns.audit import list_events
from campaigns.db import make_engine, session_scope
from campaigns.delivery.attempts import attempt_delivery
from campaigns.delivery.deliveries import due_deliveries, resend
from campaigns.delivery.recipients import add_recipient
from campaigns.delivery.sending import Outcome
from campaigns.delivery.transitions import claim, mark_data_sent, record_outcome
from campaigns.models import Delivery, DeliveryStatus, Summary
from campaigns.planning.campaigns import CampaignSpec, create_campaign
from campaigns.planning.lifecycle import close_campaign
from campaigns.runtime.dispatcher import compile_if_due
from campaigns.settings import Settings, get_settings
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_tallies
from tests.conftest import Env, make_env
from tests.servers import fresh_database
from tests.smtp_server import SmtpTestServer

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TITLE = "2019年世界知识产权日宣传周"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Installation:
    """The database of an `env`, opened in this process."""

    engine: Engine
    data_dir: Path
    campaign_id: str
    clock: Clock = field(default_factory=Clock)

    @contextmanager
    def sessions(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session

    def settings(self, smtp: SmtpTestServer | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": self.data_dir,
            "mail_from": "publicity@bureau.example",
            "delivery_backoff_seconds": 10.0,
            "delivery_backoff_max_seconds": 15.0,
            "delivery_smtp_timeout_seconds": 5.0,
        }
        if smtp is not None:
            values["smtp_url"] = f"smtp://{smtp.host}:{smtp.port}"
        values.update(overrides)
        return Settings(_env_file=None, **values)

    def attempt(self, delivery_id: int, settings: Settings, task_id: str | None = None) -> Any:
        return attempt_delivery(
            delivery_id,
            sessions=self.sessions,
            settings=settings,
            task_id=task_id,
            clock=self.clock,
        )

    def delivery(self, delivery_id: int) -> Delivery:
        with self.sessions() as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            return delivery

    def events(self, kind: str) -> list[dict[str, Any]]:
        """This campaign's events of `kind`, their data with actor and campaign."""
        with self.sessions() as session:
            return [
                {**json.loads(e.data), "campaign_id": e.campaign_id, "actor": e.actor}
                for e in list_events(session=session, campaign_id=self.campaign_id)
                if e.kind == kind
            ]

    def due(self, stale_after: timedelta = timedelta(hours=1)) -> list[int]:
        """What the dispatcher would enqueue now, of this campaign's deliveries."""
        with self.sessions() as session:
            due = due_deliveries(session=session, now=self.clock(), stale_after=stale_after)
            mine = session.exec(
                select(Delivery.id)
                .join(Summary, col(Summary.id) == col(Delivery.summary_id))
                .where(Summary.campaign_id == self.campaign_id)
            ).all()
        return [i for i in due if i in mine]


@pytest.fixture(name="shared_env", scope="module", params=["sqlite", "postgresql"])
def shared_env_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("delivery")
    if request.param == "sqlite":
        yield make_env(f"sqlite:///{directory / 'campaigns.db'}", directory / "data")
        return
    with fresh_database(request.getfixturevalue("postgres_server_url")) as url:
        environment = make_env(url, directory / "data")
        yield environment


_campaign_numbers = itertools.count(1)


@pytest.fixture(name="installation")
def installation_fixture(
    shared_env: Env, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Installation]:
    # Summaries read the sender (the Message-ID's domain) from the process's settings.
    monkeypatch.setenv("CAMPAIGNS_MAIL_FROM", shared_env.vars["CAMPAIGNS_MAIL_FROM"])
    get_settings.cache_clear()
    engine = make_engine(shared_env.vars["CAMPAIGNS_DATABASE_URL"])
    try:
        yield Installation(engine, shared_env.data_dir, f"ip-week-{next(_campaign_numbers)}")
    finally:
        engine.dispose()
        get_settings.cache_clear()


def reported_campaign(
    inst: Installation,
    recipients: Sequence[tuple[str, str, str | None]],
    *,
    title: str = TITLE,
) -> list[int]:
    """A closed campaign with tallies and a compiled summary; its delivery ids in order.

    `recipients` are (address, channel, secret_env). The title is written to the database
    directly, as a title that got past the CLI's checks would be.
    """
    campaign_id = inst.campaign_id
    with inst.sessions() as session:
        campaign = create_campaign(
            CampaignSpec(
                kind="world-ip-day", year=2019, campaign_id=campaign_id, venue="新世纪广场"
            ),
            session=session,
            actor="tester",
        )
        campaign.title = title
        session.add(campaign)
        for address, channel, secret_env in recipients:
            add_recipient(
                address,
                session=session,
                actor="tester",
                channel=channel,
                secret_env=secret_env,
                campaign_id=campaign_id,
            )
        day = campaign.start_at + timedelta(hours=3)
        store_tallies(
            campaign,
            [
                NewTally("materials", 312, day, key="a", venue="新世纪广场"),
                NewTally("consultations", 615, day + timedelta(days=1), key="b"),
            ],
            session=session,
        )
    with inst.sessions() as session:
        close_campaign(campaign_id, session=session, actor="tester")
    ids = compile_if_due(inst.sessions, campaign_id, actor="tester", now=T0)
    assert ids is not None
    return sorted(ids)


def rcpts(server: SmtpTestServer) -> list[str]:
    return [rcpt for message in server.messages for rcpt in message.rcpt_tos]


# --- the message and the outbox ------------------------------------------------------------


def test_outbox_mode_writes_one_complete_message_per_recipient(installation: Installation) -> None:
    inst = installation
    ids = reported_campaign(
        inst, [("leader@bureau.example", "email", None), ("office@bureau.example", "email", None)]
    )
    settings = inst.settings()
    for delivery_id in ids:
        assert inst.attempt(delivery_id, settings).status == DeliveryStatus.sent
        # A duplicate task for a sent delivery does nothing.
        assert inst.attempt(delivery_id, settings) is None
    files = sorted((inst.data_dir / "outbox").glob("*.eml"))
    assert [f.name for f in files] == [f"{inst.campaign_id}-v1-{i}.eml" for i in ids]
    assert not list((inst.data_dir / "outbox").glob(".tmp-*"))

    parsed = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == f"【宣传活动成果】{TITLE}（4月20日—4月26日）"
    assert parsed["To"].addresses[0].addr_spec == "leader@bureau.example"
    assert parsed["Message-ID"] == inst.delivery(ids[0]).message_id
    assert parsed["Message-ID"].endswith("@bureau.example>")
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert "300余份" in plain.get_content()
    # The chart is an inline part of the HTML's multipart/related, referenced by its cid.
    (image,) = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert image.get_content_disposition() == "inline"
    assert f'src="cid:{image["Content-ID"][1:-1]}"' in html.get_content()
    attachments = {a.get_filename(): a for a in parsed.iter_attachments()}
    assert set(attachments) == {
        f"{inst.campaign_id}.xlsx",
        f"{inst.campaign_id}.csv",
        f"{inst.campaign_id}-v1-成果统计.docx",
    }
    workbook = load_workbook(io.BytesIO(attachments[f"{inst.campaign_id}.xlsx"].get_content()))
    # Row 1 is the title, row 2 the as-of line, row 3 the header.
    sheet = workbook.worksheets[0]
    assert "世界知识产权日" in str(sheet["A1"].value), sheet["A1"].value
    header = [cell.value for cell in next(sheet.iter_rows(min_row=3, max_row=3))]
    assert header[:3] == ["指标", "合计", "单位"]
    csv_text = attachments[f"{inst.campaign_id}.csv"].get_content()
    csv_text = csv_text.decode("utf-8-sig") if isinstance(csv_text, bytes) else csv_text
    assert csv_text.lstrip("\ufeff").startswith("指标,合计,单位")
    assert "宣传资料,312" in csv_text


# --- SMTP outcomes ---------------------------------------------------------------------------


def test_4xx_retries_with_backoff_then_sends_once_with_the_same_message_id(
    installation: Installation, smtp_server: SmtpTestServer
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    smtp_server.handler.reply_next("DATA", "451 4.3.0 Try again later")
    settings = inst.settings(smtp_server)

    first = inst.attempt(delivery_id, settings)
    assert first.status == DeliveryStatus.retrying
    assert first.next_attempt_at == T0 + timedelta(seconds=10)
    assert "451" in first.last_error
    assert smtp_server.messages == []
    # Not due yet: nothing happens, nothing is sent.
    inst.clock.advance(9)
    assert inst.attempt(delivery_id, settings) is None
    assert inst.due() == []
    inst.clock.advance(1)
    assert inst.due() == [delivery_id]

    second = inst.attempt(delivery_id, settings)
    assert (second.status, second.attempts, second.last_error) == (DeliveryStatus.sent, 2, None)
    (received,) = smtp_server.messages
    assert received.message["Message-ID"] == second.message_id
    assert [e["attempt"] for e in inst.events("delivery.retrying")] == [1]
    assert [e["campaign_id"] for e in inst.events("delivery.sent")] == [inst.campaign_id]


def test_connection_errors_back_off_exponentially_up_to_the_bound_then_fail(
    installation: Installation, smtp_server: SmtpTestServer
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    settings = inst.settings(smtp_server, delivery_max_attempts=3)
    smtp_server.handler.reply_next("MAIL", "421 4.7.0 Too busy, closing", times=3)

    delays = []
    for _ in range(2):
        row = inst.attempt(delivery_id, settings)
        assert row.status == DeliveryStatus.retrying
        delays.append((row.next_attempt_at - inst.clock()).total_seconds())
        inst.clock.now = row.next_attempt_at
    assert delays == [10.0, 15.0]  # 10 · 2⁰, then 10 · 2¹ = 20 bounded to 15
    last = inst.attempt(delivery_id, settings)
    assert last.status == DeliveryStatus.failed
    assert last.last_error.startswith("gave up after 3 attempts; last: ")
    assert "421" in last.last_error
    assert smtp_server.messages == []


def test_5xx_fails_at_once_and_is_not_retried(
    installation: Installation, smtp_server: SmtpTestServer
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    smtp_server.handler.reply_next("DATA", "554 5.7.1 Message rejected as spam")
    settings = inst.settings(smtp_server)

    row = inst.attempt(delivery_id, settings)
    assert (row.status, row.attempts) == (DeliveryStatus.failed, 1)
    assert "554 5.7.1 Message rejected as spam" in row.last_error
    inst.clock.advance(10**6)
    assert inst.due(stale_after=timedelta(0)) == []
    assert inst.attempt(delivery_id, settings) is None
    assert smtp_server.messages == []


def test_refused_recipients_are_recorded_each_on_its_own_row(
    installation: Installation, smtp_server: SmtpTestServer
) -> None:
    inst = installation
    ids = reported_campaign(
        inst,
        [
            ("leader@bureau.example", "email", None),
            ("gone@bureau.example", "email", None),
            ("busy@bureau.example", "email", None),
        ],
    )
    smtp_server.handler.refuse_recipient("gone@bureau.example")
    smtp_server.handler.refuse_recipient("busy@bureau.example", "450 4.2.1 Mailbox busy", times=1)
    settings = inst.settings(smtp_server)

    leader, gone, busy = (inst.attempt(i, settings) for i in ids)
    assert leader.status == DeliveryStatus.sent
    assert gone.status == DeliveryStatus.failed
    assert "gone@bureau.example: 550 5.1.1 No such user here" in gone.last_error
    assert busy.status == DeliveryStatus.retrying
    assert "450 4.2.1 Mailbox busy" in busy.last_error
    inst.clock.advance(10)
    assert inst.attempt(ids[2], settings).status == DeliveryStatus.sent
    assert sorted(rcpts(smtp_server)) == ["busy@bureau.example", "leader@bureau.example"]


def test_connection_lost_after_the_data_is_unknown_and_only_resend_sends_again(
    installation: Installation, smtp_server: SmtpTestServer
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    smtp_server.handler.drop_after_data()
    settings = inst.settings(smtp_server)

    row = inst.attempt(delivery_id, settings)
    assert row.status == DeliveryStatus.unknown
    assert "may have been delivered" in row.last_error
    assert row.data_sent_at == T0
    assert len(smtp_server.messages) == 1  # the server did take it: RFC 1047's window
    # Never resent automatically: not due for the dispatcher, a duplicate task does nothing.
    inst.clock.advance(10**6)
    assert inst.due(stale_after=timedelta(0)) == []
    assert inst.attempt(delivery_id, settings) is None
    assert len(smtp_server.messages) == 1

    with inst.sessions() as session:
        queued = resend(delivery_id, session=session, actor="organiser")
        assert queued.status == DeliveryStatus.queued
    (event,) = inst.events("delivery.resend")
    assert event["actor"] == "organiser" and event["campaign_id"] == inst.campaign_id
    assert event["was"] == "unknown" and event["delivery"] == delivery_id
    row = inst.attempt(delivery_id, settings)
    assert row.status == DeliveryStatus.sent
    first, second = smtp_server.messages
    # The same message again: a receiving system can tell it is a duplicate.
    assert first.message["Message-ID"] == second.message["Message-ID"] == row.message_id


def test_resend_refuses_what_is_not_failed_or_unknown(installation: Installation) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    with inst.sessions() as session:
        with pytest.raises(Exception, match="is queued: only failed or unknown ones are resent"):
            resend(delivery_id, session=session, actor="organiser")
        with pytest.raises(Exception, match="unknown delivery 999"):
            resend(999, session=session, actor="organiser")


@pytest.mark.parametrize(
    # PostgreSQL cannot store NUL, so a title never holds one; the mail check covers it.
    "hostile",
    ["宣传周\r\nBcc: everyone@example.org", "宣传周\n", "宣传\x1b周", "宣传\u2028周"],
)
def test_a_hostile_title_is_refused_before_anything_is_sent(
    installation: Installation, smtp_server: SmtpTestServer, hostile: str
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(
        inst, [("leader@bureau.example", "email", None)], title=hostile
    )
    row = inst.attempt(delivery_id, inst.settings(smtp_server))
    assert (row.status, row.attempts) == (DeliveryStatus.failed, 1)
    assert row.last_error.startswith("message refused before sending: header Subject:")
    assert hostile not in row.last_error  # named by code point, never quoted
    assert row.data_sent_at is None
    assert smtp_server.messages == []


# --- attempts that die: the redelivered task -----------------------------------------------


def claim_as(inst: Installation, delivery_id: int, task_id: str, lease: float = 300) -> Any:
    with inst.sessions() as session:
        return claim(
            delivery_id,
            session=session,
            now=inst.clock(),
            lease=timedelta(seconds=lease),
            max_attempts=6,
            task_id=task_id,
        )


def test_an_attempt_that_died_before_the_hand_over_is_retried_by_its_redelivered_task(
    installation: Installation, smtp_server: SmtpTestServer
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    settings = inst.settings(smtp_server)
    job = claim_as(inst, delivery_id, "task-1")  # ... and the worker dies, nothing sent
    assert (job.attempt, job.claim) == (1, "task-1")

    # A different task (a duplicate enqueue) leaves a live attempt alone.
    assert inst.attempt(delivery_id, settings, task_id="task-2") is None
    assert inst.delivery(delivery_id).status == DeliveryStatus.sending

    row = inst.attempt(delivery_id, settings, task_id="task-1")
    assert (row.status, row.attempts) == (DeliveryStatus.sent, 2)
    assert rcpts(smtp_server) == ["leader@bureau.example"]


def test_an_attempt_that_died_after_the_hand_over_is_unknown(
    installation: Installation, smtp_server: SmtpTestServer
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    settings = inst.settings(smtp_server)
    job = claim_as(inst, delivery_id, "task-1")
    with inst.sessions() as session:
        assert mark_data_sent(job, session=session, now=inst.clock())
    # ... the final "." went out and the worker died before the reply.

    assert inst.attempt(delivery_id, settings, task_id="task-1") is None
    row = inst.delivery(delivery_id)
    assert row.status == DeliveryStatus.unknown
    assert "may have been delivered" in str(row.last_error)
    (event,) = inst.events("delivery.unknown")
    assert event["campaign_id"] == inst.campaign_id
    assert smtp_server.messages == []


def test_an_expired_lease_is_judged_by_any_task_and_found_by_the_dispatcher(
    installation: Installation, smtp_server: SmtpTestServer
) -> None:
    inst = installation
    first, second = reported_campaign(
        inst, [("leader@bureau.example", "email", None), ("office@bureau.example", "email", None)]
    )
    settings = inst.settings(smtp_server)
    claim_as(inst, first, "lost-1", lease=60)
    job = claim_as(inst, second, "lost-2", lease=60)
    with inst.sessions() as session:
        mark_data_sent(job, session=session, now=inst.clock())
    inst.clock.advance(61)
    assert inst.due() == [first, second]
    assert inst.attempt(first, settings, task_id="dispatched").status == DeliveryStatus.sent
    assert inst.attempt(second, settings, task_id="dispatched") is None
    assert inst.delivery(second).status == DeliveryStatus.unknown
    assert rcpts(smtp_server) == ["leader@bureau.example"]


def test_an_attempt_replaced_by_a_later_claim_can_neither_send_nor_record(
    installation: Installation,
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    stale = claim_as(inst, delivery_id, "task-1")
    current = claim_as(inst, delivery_id, "task-1")  # redelivered while the first still ran
    assert current.attempt == stale.attempt + 1
    with inst.sessions() as session:
        assert not mark_data_sent(stale, session=session, now=inst.clock())
        record_outcome(
            stale,
            Outcome(DeliveryStatus.failed, "stale"),
            session=session,
            now=inst.clock(),
            max_attempts=6,
            backoff_seconds=1,
            backoff_max_seconds=1,
        )
    assert inst.delivery(delivery_id).status == DeliveryStatus.sending
    with inst.sessions() as session:
        assert mark_data_sent(current, session=session, now=inst.clock())


def test_a_late_definite_answer_corrects_unknown(installation: Installation) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    job = claim_as(inst, delivery_id, "task-1", lease=1)
    with inst.sessions() as session:
        mark_data_sent(job, session=session, now=inst.clock())
    inst.clock.advance(2)
    assert claim_as(inst, delivery_id, "other") is None  # judged unknown meanwhile
    assert inst.delivery(delivery_id).status == DeliveryStatus.unknown
    with inst.sessions() as session:
        record_outcome(
            job,
            Outcome(DeliveryStatus.sent),
            session=session,
            now=inst.clock(),
            max_attempts=6,
            backoff_seconds=1,
            backoff_max_seconds=1,
        )
    assert inst.delivery(delivery_id).status == DeliveryStatus.sent


def test_a_task_that_keeps_dying_before_the_hand_over_ends_failed(
    installation: Installation,
) -> None:
    inst = installation
    (delivery_id,) = reported_campaign(inst, [("leader@bureau.example", "email", None)])
    for attempt in range(1, 7):
        assert claim_as(inst, delivery_id, "task-1").attempt == attempt
    assert claim_as(inst, delivery_id, "task-1") is None
    row = inst.delivery(delivery_id)
    assert row.status == DeliveryStatus.failed
    assert str(row.last_error).startswith("gave up after 6 attempts")
