"""A `log` typed again because the first seemed to fail counts once; `--new` counts again.

The CLI tests run the real `campaigns` command on a real SQLite file and PostgreSQL database
with a real Redis and worker processes; the property test drives the same domain functions in
process (repeat check, batch, the chunk encoding the CLI publishes, the worker's `store_chunk`).
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from campaigns.models import Tally, TallyBatch, TallyBatchChunk
from campaigns.tallies.batches import begin_batch
from campaigns.tallies.encoding import NewTally, encode_chunk, to_columns
from campaigns.tallies.repeats import LOG_SOURCE, key_log
from campaigns.tallies.store import store_chunk
from tests.conftest import Env, create_running_campaign, insert_campaign

CAMPAIGN = "ip-week"
KEY = re.compile(r"\(key (\S+?)[;)]")
HINT = re.compile(r"the same log was made at \d\d:\d\d; add --new if this is another one\)$")


def _total(env: Env, metric: str) -> int:
    # Read from the rollups (what `show` and summaries read), sparing a process per check.
    with env.session() as session:
        return int(
            session.execute(
                text(
                    "SELECT coalesce(sum(total), 0) FROM tally_day_rollup"
                    " WHERE campaign_id = :c AND metric = :m"
                ),
                {"c": CAMPAIGN, "m": metric},
            ).scalar_one()
        )


def _key(line: str) -> str:
    match = KEY.search(line)
    assert match is not None, line
    return match.group(1)


def _wait_until_every_chunk_is_done(env: Env, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with env.session() as session:
            batches = session.execute(select(func.count()).select_from(TallyBatch)).scalar_one()
            done = session.execute(select(func.count()).select_from(TallyBatchChunk)).scalar_one()
        if done >= batches:
            return
        assert time.monotonic() < deadline, f"{done} of {batches} chunks stored"
        time.sleep(0.1)


def test_a_log_repeated_while_no_worker_runs_counts_once(env: Env, broker_url: str) -> None:
    env.vars["CAMPAIGNS_BROKER_URL"] = broker_url
    create_running_campaign(env, CAMPAIGN)

    first = env.ok("log", CAMPAIGN, "materials", "300", "--venue", "广场", "--wait", "0")
    assert first.startswith("queued: materials 300"), first
    assert "the same log" not in first
    # The clerk saw no "counted" and types the same command again.
    again = env.ok("log", CAMPAIGN, "materials", "300", "--venue", "广场", "--wait", "0")
    assert again.startswith("queued: materials 300"), again
    assert HINT.search(again.strip()), again
    assert _key(again) == _key(first)
    # The same figure for another venue is another tally.
    other = env.ok("log", CAMPAIGN, "materials", "300", "--wait", "0")
    assert _key(other) != _key(first)
    fix = ("correct", CAMPAIGN, "materials", "--reason", "typo", "--wait", "0", "--", "-20")
    correction = env.ok(*fix)
    repeated = env.ok(*fix)
    assert _key(repeated) == _key(correction)
    assert "the same correction was made at" in repeated

    env.start("worker", "--concurrency", "1", ready="ready.")
    _wait_until_every_chunk_is_done(env)
    assert _total(env, "materials") == 300 + 300 - 20
    with env.session() as session:
        keys = session.execute(select(col(TallyBatch.tally_key), col(TallyBatch.source))).all()
    assert len(keys) == 5 and {source for _, source in keys} == {LOG_SOURCE}
    assert len({key for key, _ in keys}) == 3


def test_a_counted_repeat_says_so_and_new_ones_count_each(worker_env: Env) -> None:
    create_running_campaign(worker_env, CAMPAIGN)
    first = worker_env.ok("log", CAMPAIGN, "boards", "2")
    assert re.fullmatch(r"counted: boards 2 \(key \S+\)\n", first), first
    again = worker_env.ok("log", CAMPAIGN, "boards", "2")
    assert again.startswith(f"already counted: boards 2 (key {_key(first)}; "), again
    assert HINT.search(again.strip()), again
    for _ in range(2):
        new = worker_env.ok("log", CAMPAIGN, "boards", "2", "--new")
        assert new.startswith("counted: boards 2"), new
        assert "the same log" not in new
    assert _total(worker_env, "boards") == 2 * 3


def test_key_and_new_together_are_refused(env: Env) -> None:
    create_running_campaign(env, CAMPAIGN)
    for command in (
        ("log", CAMPAIGN, "boards", "2", "--key", "k1", "--new"),
        ("correct", CAMPAIGN, "boards", "--reason", "r", "--key", "k1", "--new", "--", "-1"),
    ):
        result = env.run(*command)
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "--key and --new" in lines[0], result.stderr
        assert result.stdout == ""
    with env.session() as session:
        assert session.execute(select(func.count()).select_from(TallyBatch)).scalar_one() == 0


def test_the_same_log_after_the_window_counts_again(worker_env: Env) -> None:
    worker_env.vars["CAMPAIGNS_REPEAT_WINDOW_SECONDS"] = "1"
    create_running_campaign(worker_env, CAMPAIGN)
    first = worker_env.ok("log", CAMPAIGN, "boards", "3")
    time.sleep(1.2)
    later = worker_env.ok("log", CAMPAIGN, "boards", "3")
    assert later.startswith("counted: boards 3"), later
    assert _key(later) != _key(first)
    worker_env.vars["CAMPAIGNS_REPEAT_WINDOW_SECONDS"] = "0"
    off = worker_env.ok("log", CAMPAIGN, "boards", "3")
    assert off.startswith("counted: boards 3") and "the same log" not in off, off
    assert _total(worker_env, "boards") == 9


# --- The property, in process -------------------------------------------------------------

WINDOW = 600.0
ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2019, 4, 16, 2, 0, tzinfo=UTC)  # inside `insert_campaign`'s campaign
# What a clerk may type: few enough that the same log comes up again and again.
CONTENTS = [
    # metric, quantity, venue, recorded_by, --at text, correction reason
    ("boards", 2, None, "张三", None, None),
    ("boards", 2, None, "李四", None, None),
    ("boards", 2, "广场", "张三", None, None),
    ("materials", 300, None, "张三", "2019-04-16", None),
    ("materials", 300, None, "张三", "2019-04-16 00:00", None),
    ("materials", -20, None, "张三", None, "typo"),
]


@dataclass(frozen=True)
class Log:
    content: int
    # "plain" (no key: the repeat check), "new" (--new), or an explicit key.
    mode: str
    # Seconds since the previous log.
    after: int
    # Whether a worker stores it at once; the rest stay queued until the end.
    stored_at_once: bool


logs = st.builds(
    Log,
    content=st.integers(0, len(CONTENTS) - 1),
    mode=st.sampled_from(["plain", "plain", "plain", "new", "key-1", "key-2"]),
    after=st.sampled_from([0, 5, 120, 599, 600, 601, 3600]),
    stored_at_once=st.booleans(),
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    from campaigns.db import make_engine, upgrade_database

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('repeats') / 'campaigns.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


_campaigns = itertools.count()


def _tally(content: int, moment: datetime) -> tuple[NewTally, str | None]:
    metric, quantity, venue, by, at, reason = CONTENTS[content]
    tally = NewTally(
        metric=metric,
        quantity=quantity,
        occurred_at=moment,
        key="",
        venue=venue,
        recorded_by=by,
        is_correction=reason is not None,
        reason=reason,
    )
    return tally, at


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(sequence=st.lists(logs, min_size=1, max_size=12), seed=st.integers(0, 2**32 - 1))
def test_keys_count_once_repeats_count_once_new_ones_count_each(
    engine: Engine, sequence: list[Log], seed: int
) -> None:
    campaign = f"c{next(_campaigns)}"
    with engine.begin() as connection:
        insert_campaign(connection, campaign)
    now = START
    # The model: what each log must come to.
    recent: dict[int, tuple[datetime, str]] = {}  # content -> (last plain/new log, its key)
    expected_keys: dict[str, int] = {}  # key -> the quantity of the log that uses it first
    queued: list[tuple[str, dict[str, object]]] = []
    for log in sequence:
        now += timedelta(seconds=log.after)
        tally, at = _tally(log.content, now)
        explicit = None if log.mode in ("plain", "new") else log.mode
        with Session(engine, expire_on_commit=False) as session:
            keyed = key_log(
                campaign,
                tally,
                session=session,
                at=at,
                explicit_key=explicit,
                new=log.mode == "new",
                window_seconds=WINDOW,
                now=now,
            )
            batch = begin_batch(
                campaign,
                session=session,
                source=LOG_SOURCE,
                tallies=1,
                chunks=1,
                actor="t",
                digest=keyed.digest,
                tally_key=keyed.tally.key,
                now=now,
            )
            session.commit()
        key = keyed.tally.key
        earlier = recent.get(log.content)
        if explicit is not None:
            assert key == explicit and keyed.repeat_of is None
        elif log.mode == "plain" and earlier and now - earlier[0] <= timedelta(seconds=WINDOW):
            # A repeat within the window: the earlier key, stored or still queued.
            assert keyed.repeat_of is not None and key == earlier[1]
        else:
            # A `--new` one, or the first of its kind in the window: a key never seen.
            assert keyed.repeat_of is None and key not in expected_keys
        if explicit is None:
            recent[log.content] = (now, key)
        expected_keys.setdefault(key, tally.quantity)
        # The chunk as the CLI publishes it.
        columns, source = to_columns([keyed.tally], ZONE)
        queued.append((batch.id, encode_chunk(columns, source=source)))
        if log.stored_at_once:
            _store(engine, campaign, *queued.pop())
    # The worker comes back and stores what was queued, in any order.
    random.Random(seed).shuffle(queued)
    for batch_id, chunk in queued:
        _store(engine, campaign, batch_id, chunk)

    with Session(engine) as session:
        stored = session.execute(
            select(col(Tally.key), func.count())
            .where(col(Tally.campaign_id) == campaign)
            .group_by(col(Tally.key))
        ).all()
        total = session.execute(
            text("SELECT coalesce(sum(total), 0) FROM tally_day_rollup WHERE campaign_id = :c"),
            {"c": campaign},
        ).scalar_one()
    assert all(n == 1 for _, n in stored), stored
    assert {k for k, _ in stored} == set(expected_keys)
    counted_plain_or_new = sum(1 for k in expected_keys if not k.startswith("key-"))
    assert counted_plain_or_new == sum(1 for log in sequence if log.mode == "new") + sum(
        1 for i, log in enumerate(sequence) if log.mode == "plain" and _first_in_window(sequence, i)
    )
    if not any(log.mode.startswith("key-") for log in sequence):
        assert total == sum(expected_keys.values())


def _first_in_window(sequence: list[Log], index: int) -> bool:
    """Whether the plain log at `index` starts a new tally: no plain or `--new` log of the
    same content within the window before it (measured from the most recent one)."""
    moment = sum(log.after for log in sequence[: index + 1])
    content = sequence[index].content
    for earlier in range(index - 1, -1, -1):
        log = sequence[earlier]
        if log.content == content and log.mode in ("plain", "new"):
            return moment - sum(x.after for x in sequence[: earlier + 1]) > WINDOW
    return True


def _store(engine: Engine, campaign: str, batch_id: str, chunk: dict[str, object]) -> None:
    with Session(engine) as session:
        store_chunk(campaign, chunk, session=session, batch=(batch_id, 0))
        session.commit()


def test_the_window_edges(engine: Engine) -> None:
    """What the property covers, spelled out: 600 s after is a repeat, 601 s after is not; a
    `--new` one is what the next repeat repeats."""
    campaign = f"c{next(_campaigns)}"
    with engine.begin() as connection:
        insert_campaign(connection, campaign)
    keys = []
    for seconds, new in ((0, False), (600, False), (1201, False), (1300, True), (1400, False)):
        moment = START + timedelta(seconds=seconds)
        tally, at = _tally(0, moment)
        with Session(engine, expire_on_commit=False) as session:
            keyed = key_log(
                campaign,
                tally,
                session=session,
                at=at,
                explicit_key=None,
                new=new,
                window_seconds=WINDOW,
                now=moment,
            )
            begin_batch(
                campaign,
                session=session,
                source=LOG_SOURCE,
                tallies=1,
                chunks=1,
                actor="t",
                digest=keyed.digest,
                tally_key=keyed.tally.key,
                now=moment,
            )
            session.commit()
        keys.append(keyed.tally.key)
    # 600 s after the first: a repeat; 601 s after the repeat: new; --new: new; 100 s after
    # the --new one: a repeat of it.
    assert keys[1] == keys[0]
    assert len({keys[0], keys[2], keys[3]}) == 3
    assert keys[4] == keys[3]
