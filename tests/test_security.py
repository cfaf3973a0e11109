"""Secrets stay secret: the SMTP password, a robot's token and signing secret and the
database password never appear in CLI output, errors, the worker's log, the event log or
anything that crossed Redis. Real worker, real Redis, real SMTP and HTTP servers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import redis
from sqlalchemy.engine import make_url

from campaigns.audit import list_events
from campaigns.delivery.deliveries import list_deliveries
from tests.conftest import Env
from tests.http_server import (
    HttpTestServer,
    http_server_fixture,  # noqa: F401  (fixture)
)
from tests.smtp_server import running_smtp_server

SMTP_PASSWORD = "Smtp-Pa55-q7Zx"
ROBOT_TOKEN = "RobotToken9f3k2"
SIGNING_SECRET = "SEC-signing-77aa"
DB_PASSWORD = "Db-Pa55-w0rd-k1"

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


class RedisTap:
    """Everything Redis is told while the test runs (MONITOR), to search for secrets."""

    def __init__(self, url: str) -> None:
        self.lines: list[str] = []
        # No read timeout: MONITOR sits idle between commands.
        self._client = redis.Redis.from_url(url, socket_timeout=None)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        try:
            with self._client.monitor() as monitor:
                self._ready.set()
                for command in monitor.listen():
                    self.lines.append(str(command.get("command", "")))
                    if self._stop.is_set():
                        return
        except Exception as exc:  # surfaced by the test's assertion on `lines`
            self.lines.append(f"TAP FAILED: {exc!r}")
            self._ready.set()

    def stop(self) -> None:
        self._stop.set()
        self._client.ping()
        self._thread.join(timeout=10)


@pytest.fixture
def tapped_redis(broker_url: str) -> Iterator[RedisTap]:
    tap = RedisTap(broker_url)
    yield tap
    tap.stop()


def test_no_secret_leaves_the_process(
    env: Env, broker_url: str, http_server: HttpTestServer, tapped_redis: RedisTap
) -> None:
    url = make_url(env.vars["CAMPAIGNS_DATABASE_URL"])
    if url.get_backend_name() == "postgresql":
        # The test cluster trusts local connections, so any password is accepted: what
        # matters is that it is never shown.
        env.vars["CAMPAIGNS_DATABASE_URL"] = url.set(password=DB_PASSWORD).render_as_string(
            hide_password=False
        )
    outputs: list[str] = []

    def run(*args: str) -> None:
        result = env.run(*args)
        outputs.extend([result.stdout, result.stderr])
        assert result.returncode == 0, result.stderr

    with running_smtp_server(login=("mailer", SMTP_PASSWORD)) as smtp:
        env.vars.update(
            CAMPAIGNS_BROKER_URL=broker_url,
            CAMPAIGNS_SMTP_URL=f"smtp://mailer:{SMTP_PASSWORD}@{smtp.host}:{smtp.port}",
            DING_SECRET=SIGNING_SECRET,
        )
        env.start("worker", "--concurrency", "1", ready="ready.")
        http_server.enqueue(200, {"errcode": 0, "errmsg": "ok"})
        today = date.today()
        run(
            "create",
            "world-ip-day",
            "--year",
            str(today.year),
            "--id",
            "sec",
            "--start",
            str(today - timedelta(days=1)),
            "--end",
            str(today + timedelta(days=1)),
        )
        run("recipients", "add", "leader@bureau.example")
        run(
            "recipients",
            "add",
            f"{http_server.url}/robot/send?access_token={ROBOT_TOKEN}",
            "--channel",
            "dingtalk",
            "--secret-env",
            "DING_SECRET",
        )
        run("log", "sec", "materials", "120")
        run("close", "sec", "--wait", "--timeout", "180")
        for args in (
            ("show", "sec"),
            ("deliveries", "sec"),
            ("deliveries",),
            ("recipients", "list"),
            ("summary", "sec"),
            ("init",),
        ):
            run(*args)
        # An error path: a wrong SMTP password is reported without it.
        assert len(smtp.messages) == 1

    with env.session() as session:
        rows = list_deliveries(session=session, campaign_id="sec")
        assert sorted(r.delivery.status for r in rows) == ["sent", "sent"]
        stored = [e.data for e in list_events(session=session)] + [
            r.delivery.last_error or "" for r in rows
        ]
    robot = http_server.requests[0]
    assert robot.param("access_token") == ROBOT_TOKEN  # it really was used
    assert robot.param("sign")

    tapped_redis.stop()
    worker_logs = [p.read_text() for p in env.data_dir.glob("worker-*.log")]
    haystacks = {
        "CLI output": "\n".join(outputs),
        "event log and delivery errors": "\n".join(stored),
        "worker log": "\n".join(worker_logs),
        "Redis traffic": "\n".join(tapped_redis.lines),
    }
    assert len(tapped_redis.lines) > 10, tapped_redis.lines
    assert not any(line.startswith("TAP FAILED") for line in tapped_redis.lines)
    for where, text in haystacks.items():
        for secret in (SMTP_PASSWORD, ROBOT_TOKEN, SIGNING_SECRET, DB_PASSWORD):
            assert secret not in text, f"{secret!r} leaked into the {where}"
