"""Poison messages: quarantined after K attempts into `dead_letter`, the rest flows on,
and `dead-letters replay` sends one again. Real worker, real Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from celery import Celery

from campaigns.tallies.encoding import NewTally
from tests.conftest import Env


def _chunk(key: str, quantity: int) -> list[dict[str, object]]:
    tally = NewTally(
        metric="materials",
        quantity=quantity,
        key=key,
        occurred_at=datetime(2019, 4, 22, 4, 0, tzinfo=UTC),
    )
    return [tally.to_message()]


def _wait_for(predicate: object, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def poison_env(env: Env, broker_url: str) -> Env:
    env.vars.update(
        CAMPAIGNS_BROKER_URL=broker_url,
        CAMPAIGNS_POISON_LIMIT="3",
        CAMPAIGNS_RETRY_BACKOFF_SECONDS="0.2",
    )
    env.start("worker", "--concurrency", "1", ready="ready.")
    return env


def test_poison_chunk_is_quarantined_and_replayable(poison_env: Env) -> None:
    env = poison_env
    producer = Celery(broker=env.vars["CAMPAIGNS_BROKER_URL"])
    producer.conf.task_default_queue = "campaigns"
    # A chunk for a campaign that does not exist (yet) fails every time it is tried.
    producer.send_task("campaigns.store_tallies", args=["2019-world-ip-day", _chunk("early", 7)])
    env.ok("create", "national-security-day", "--year", "2019")
    producer.send_task(
        "campaigns.store_tallies", args=["2019-national-security-day", _chunk("fine", 5)]
    )

    _wait_for(lambda: "1 quarantined" in env.ok("dead-letters"))
    listing = env.ok("dead-letters")
    assert "campaigns.store_tallies" in listing and "unknown campaign" in listing
    assert "3" in listing  # attempts
    shown = env.ok("show", "2019-national-security-day")
    assert " 5 " in shown, "the good chunk behind the poison one is counted"

    env.ok("create", "world-ip-day", "--year", "2019")
    env.ok("dead-letters", "replay", "1")
    _wait_for(lambda: " 7 " in env.ok("show", "2019-world-ip-day"))
    assert "0 quarantined" in env.ok("dead-letters")
    assert "1 quarantined" in env.ok("dead-letters", "list", "--all")
    again = env.run("dead-letters", "replay", "1")
    assert again.returncode == 1 and "replayed already" in again.stderr
