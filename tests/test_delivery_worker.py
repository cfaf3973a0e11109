"""Deliveries through a real `campaigns worker` (Celery, Redis) to real SMTP and HTTP servers.

The worker is started here the way the `worker_env` fixture starts it, but after the
test has put the SMTP URL and its timing settings into the environment, which the worker
reads once at start. The SMTP server stalls at a chosen step so that a SIGKILL lands
exactly there: before the message was handed over, or after its final ".".
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from campaigns.db import make_engine
from campaigns.delivery.recipients import add_recipient
from campaigns.models import Delivery, DeliveryStatus, DomainEvent
from campaigns.planning.campaigns import CampaignSpec, create_campaign
from campaigns.planning.lifecycle import close_campaign
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_tallies
from tests.conftest import Env
from tests.http_server import HttpTestServer, http_server_fixture  # noqa: F401
from tests.smtp_server import SmtpTestServer

CAMPAIGN = "ip-week"
LEADER = "leader@bureau.example"


@pytest.fixture(name="engine")
def engine_fixture(env: Env, broker_url: str, smtp_server: SmtpTestServer) -> Iterator[Engine]:
    env.vars["CAMPAIGNS_BROKER_URL"] = broker_url
    env.vars["CAMPAIGNS_SMTP_URL"] = f"smtp://{smtp_server.host}:{smtp_server.port}"
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    yield engine
    engine.dispose()


def start_worker(env: Env) -> subprocess.Popen[str]:
    return env.start("worker", "--concurrency", "1", ready="ready.")


def closed_campaign(engine: Engine, recipients: list[tuple[str, str]]) -> None:
    """A campaign with tallies, closed: `campaigns close` then hands it to the worker."""
    with Session(engine) as session:
        campaign = create_campaign(
            CampaignSpec(kind="world-ip-day", year=date.today().year, campaign_id=CAMPAIGN),
            session=session,
            actor="tester",
        )
        for address, channel in recipients:
            add_recipient(address, session=session, actor="tester", channel=channel)
        store_tallies(
            campaign,
            [NewTally("materials", 312, campaign.start_at + timedelta(hours=2), key="a")],
            session=session,
        )
        close_campaign(CAMPAIGN, session=session, actor="tester")
        session.commit()


def deliveries(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery).order_by(col(Delivery.id))))


def events(engine: Engine, kind: str) -> list[DomainEvent]:
    with Session(engine) as session:
        return list(session.exec(select(DomainEvent).where(DomainEvent.kind == kind)))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def pool_child(worker: subprocess.Popen[str]) -> int:
    """The pid of the worker's one prefork pool process."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def statuses(engine: Engine) -> list[str]:
    return [d.status for d in deliveries(engine)]


def test_a_worker_killed_before_the_hand_over_sends_once_when_its_task_comes_back(
    env: Env, engine: Engine, smtp_server: SmtpTestServer
) -> None:
    smtp_server.handler.stall_next("RCPT", 120)
    worker = start_worker(env)
    closed_campaign(engine, [(LEADER, "email")])
    env.ok("close", CAMPAIGN)

    assert smtp_server.handler.stalled.wait(90), "the worker never reached RCPT"
    (delivery,) = deliveries(engine)
    assert (delivery.status, delivery.data_sent_at) == (DeliveryStatus.sending, None)
    os.kill(pool_child(worker), signal.SIGKILL)

    # The pool process died with the task unacknowledged: Celery puts it back on the queue,
    # and the task, finding its own attempt dead before the hand-over, tries again.
    wait_until(lambda: statuses(engine) == [DeliveryStatus.sent], "the delivery to be sent")
    (delivery,) = deliveries(engine)
    assert delivery.attempts == 2
    assert [r for m in smtp_server.messages for r in m.rcpt_tos] == [LEADER]


def test_a_worker_killed_after_the_final_dot_is_unknown_until_resent(
    env: Env, engine: Engine, smtp_server: SmtpTestServer
) -> None:
    # The broker hands an unacknowledged task to another worker after the visibility
    # timeout: short here, so the test need not wait the default 15 minutes.
    env.vars["CAMPAIGNS_TASK_TIME_LIMIT_SECONDS"] = "15"
    env.vars["CAMPAIGNS_VISIBILITY_TIMEOUT_SECONDS"] = "17"
    smtp_server.handler.stall_next("DATA", 300)
    worker = start_worker(env)
    closed_campaign(engine, [(LEADER, "email")])
    env.ok("close", CAMPAIGN)

    assert smtp_server.handler.stalled.wait(90), "the worker never finished the DATA"
    delivered_at = time.monotonic()
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    (delivery,) = deliveries(engine)
    assert delivery.status == DeliveryStatus.sending and delivery.data_sent_at is not None
    assert len(smtp_server.messages) == 1  # the server has it; the worker never heard

    time.sleep(max(0.0, delivered_at + 18 - time.monotonic()))
    start_worker(env)
    wait_until(lambda: statuses(engine) == [DeliveryStatus.unknown], "the delivery to be unknown")
    (delivery,) = deliveries(engine)
    assert "may have been delivered" in (delivery.last_error or "")
    assert len(smtp_server.messages) == 1
    env.vars["COLUMNS"] = "200"
    assert "unknown" in env.ok("deliveries", CAMPAIGN)

    env.ok("resend", str(delivery.id))
    wait_until(lambda: statuses(engine) == [DeliveryStatus.sent], "the resent delivery")
    first, second = smtp_server.messages
    assert first.message["Message-ID"] == second.message["Message-ID"] == delivery.message_id
    (resend_event,) = events(engine, "delivery.resend")
    assert resend_event.actor == "tester" and resend_event.campaign_id == CAMPAIGN


def test_the_worker_retries_a_4xx_and_honours_retry_after(
    env: Env, engine: Engine, smtp_server: SmtpTestServer, http_server: HttpTestServer
) -> None:
    env.vars["CAMPAIGNS_DELIVERY_BACKOFF_SECONDS"] = "0.5"
    smtp_server.handler.reply_next("DATA", "451 4.3.0 Try again later")
    http_server.enqueue(429, {}, headers={"Retry-After": "2"})
    http_server.enqueue(body={"code": 0, "msg": "success"})
    start_worker(env)
    closed_campaign(
        engine, [(LEADER, "email"), (f"{http_server.url}/open-apis/bot/v2/hook/t0k3n", "feishu")]
    )
    env.ok("close", CAMPAIGN)

    wait_until(lambda: statuses(engine) == ["sent", "sent"], "both deliveries to be sent")
    assert [d.attempts for d in deliveries(engine)] == [2, 2]
    assert [r for m in smtp_server.messages for r in m.rcpt_tos] == [LEADER]
    assert len(http_server.requests) == 2
    robot = deliveries(engine)[1]
    (retrying,) = [
        e for e in events(engine, "delivery.retrying") if f'"delivery": {robot.id}' in e.data
    ]
    (sent,) = [e for e in events(engine, "delivery.sent") if f'"delivery": {robot.id}' in e.data]
    assert (sent.at - retrying.at).total_seconds() >= 2.0
