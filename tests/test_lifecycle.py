"""The dispatcher on a controlled clock (no sleeping): opening, evening digests, closing by
time and by hand, and dispatchers racing each other on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from campaigns.db import make_engine, session_scope
from campaigns.delivery.recipients import add_recipient
from campaigns.models import Campaign, Delivery, Digest, DomainEvent, Summary
from campaigns.planning.campaigns import CampaignSpec, create_campaign
from campaigns.planning.lifecycle import close_campaign
from campaigns.runtime.dispatcher import DispatchResult, compile_and_list, run_dispatch
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_tallies
from tests.conftest import Env

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVENING = time(18, 0)

Sessions = Callable[[], AbstractContextManager[Session]]


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@contextmanager
def sessions_for(env: Env) -> Iterator[tuple[Engine, Sessions]]:
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    try:
        yield engine, lambda: session_scope(engine)
    finally:
        engine.dispose()


def make_campaign(
    sessions: Sessions, campaign_id: str, first: date, last: date, *, recipients: int = 2
) -> None:
    with sessions() as s:
        create_campaign(
            CampaignSpec(
                kind="world-ip-day",
                year=first.year,
                first_day=first,
                last_day=last,
                venue="新世纪广场",
                targets={"materials": 300},
                campaign_id=campaign_id,
            ),
            session=s,
            actor="tester",
        )
    with sessions() as s:
        for n in range(recipients):
            add_recipient(
                f"leader{n}@bureau.example", session=s, actor="tester", campaign_id=campaign_id
            )


def log_tally(
    sessions: Sessions, campaign_id: str, metric: str, quantity: int, at: datetime
) -> None:
    with sessions() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        tally = NewTally(
            metric=metric, quantity=quantity, occurred_at=at, key=f"{metric}-{at}-{quantity}"
        )
        assert store_tallies(campaign, [tally], session=s) == 1


def sent(sessions: Sessions) -> None:
    """What a worker would do with the queued deliveries (else the next pass re-lists them)."""
    with sessions() as s:
        s.execute(update(Delivery).values(status="sent"))


def count(session: Session, model: type, *where: object) -> int:
    return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def event_kinds(session: Session, campaign_id: str) -> list[str]:
    query = (
        select(DomainEvent.kind)
        .where(DomainEvent.campaign_id == campaign_id)
        .order_by(col(DomainEvent.id))
    )
    return list(session.exec(query))


def test_dispatcher_on_a_controlled_clock(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        make_campaign(sessions, "ip", date(2019, 4, 20), date(2019, 4, 26))

        def dispatch(now: datetime) -> DispatchResult:
            result = run_dispatch(sessions, now=now.astimezone(UTC), digest_at=EVENING)
            sent(sessions)
            return result

        assert dispatch(local(2019, 4, 19, 23, 59)) == DispatchResult()
        opened = dispatch(local(2019, 4, 20, 0, 0))
        assert opened.opened == ["ip"] and not opened.closed and not opened.deliveries
        log_tally(sessions, "ip", "materials", 312, local(2019, 4, 20, 10))

        assert dispatch(local(2019, 4, 20, 17, 59)).digests == []
        evening = dispatch(local(2019, 4, 20, 18, 0))
        assert evening.digests == ["ip"] and len(evening.deliveries) == 2
        # Once per day: later passes that evening send nothing more.
        assert dispatch(local(2019, 4, 20, 18, 1)) == DispatchResult()
        assert dispatch(local(2019, 4, 20, 23, 59)) == DispatchResult()
        assert dispatch(local(2019, 4, 21, 18, 5)).digests == ["ip"]

        # The last evening has none: the final summary follows at midnight.
        assert dispatch(local(2019, 4, 26, 18, 0)) == DispatchResult()
        end = dispatch(local(2019, 4, 27, 0, 0))
        assert end.closed == ["ip"] and end.reported == ["ip"] and len(end.deliveries) == 2
        assert dispatch(local(2019, 4, 27, 18, 0)) == DispatchResult()

        with sessions() as s:
            campaign = s.get(Campaign, "ip")
            assert campaign is not None and campaign.status == "reported"
            finals = list(s.exec(select(Summary).where(Summary.final == True)))  # noqa: E712
            assert [f.version for f in finals] == [1]
            digests = list(s.exec(select(Digest).order_by(col(Digest.day))))
            assert [d.day for d in digests] == [date(2019, 4, 20), date(2019, 4, 21)]
            versions = sorted(s.exec(select(Summary.version).where(Summary.final == False)))  # noqa: E712
            assert versions == [-2, -1]
            assert count(s, Delivery) == 2 * 3
            kinds = event_kinds(s, "ip")
            assert kinds.count("campaign.running") == 1
            assert kinds.count("digest.compiled") == 2
            assert kinds[-3:] == ["campaign.closed", "campaign.reported", "summary.compiled"]
            # Stored in UTC: local midnight of 27 April is 16:00 UTC on the 26th.
            closed_at = s.exec(
                select(DomainEvent.at).where(DomainEvent.kind == "campaign.closed")
            ).one()
            assert closed_at == datetime(2019, 4, 26, 16, 0, tzinfo=UTC)


def test_closed_by_hand_before_its_end(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        make_campaign(sessions, "hand", date(2019, 4, 20), date(2019, 4, 26), recipients=1)
        run_dispatch(sessions, now=local(2019, 4, 20, 9).astimezone(UTC))
        log_tally(sessions, "hand", "boards", 2, local(2019, 4, 20, 10))
        with sessions() as s:
            assert close_campaign("hand", session=s, actor="organiser").status == "closed"
        # Closing twice is a no-op, not an error.
        with sessions() as s:
            assert close_campaign("hand", session=s, actor="organiser").status == "closed"
        result = run_dispatch(
            sessions, now=local(2019, 4, 22, 9).astimezone(UTC), digest_at=EVENING
        )
        assert result.reported == ["hand"] and result.closed == [] and len(result.deliveries) == 1
        sent(sessions)
        # The end passing later changes nothing.
        assert run_dispatch(sessions, now=local(2019, 4, 28).astimezone(UTC)) == DispatchResult()
        with sessions() as s:
            closed = s.exec(
                select(DomainEvent.actor).where(DomainEvent.kind == "campaign.closed")
            ).all()
            assert closed == ["organiser"]
            assert count(s, Summary) == 1 and count(s, Digest) == 0


def _race(workers: int, job: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(workers)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(job())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_dispatchers_racing_make_one_of_everything(env: Env) -> None:
    ids = [f"race-{n}" for n in range(4)]
    engines = [make_engine(env.vars["CAMPAIGNS_DATABASE_URL"]) for _ in range(4)]
    try:
        with sessions_for(env) as (_, sessions):
            for campaign_id in ids:
                make_campaign(
                    sessions, campaign_id, date(2019, 4, 20), date(2019, 4, 26), recipients=3
                )
            run_dispatch(sessions, now=local(2019, 4, 20, 9).astimezone(UTC))
            for campaign_id in ids:
                log_tally(sessions, campaign_id, "materials", 120, local(2019, 4, 20, 10))
            pool = iter(engines)
            lock = threading.Lock()

            def own_sessions() -> Sessions:
                with lock:
                    engine = next(pool)
                return lambda: session_scope(engine)

            def dispatcher(now: datetime) -> Callable[[], object]:
                def job() -> DispatchResult:
                    return run_dispatch(own_sessions(), now=now.astimezone(UTC), digest_at=EVENING)

                return job

            evening = _race(4, dispatcher(local(2019, 4, 20, 18, 30)))
            pool = iter(engines)
            end = _race(4, dispatcher(local(2019, 4, 27, 0, 1)))
            pool = iter(engines)
            # A retried compile task racing too: still one summary.
            late = _race(
                4,
                lambda: compile_and_list(
                    own_sessions(), ids[0], actor="retry", now=local(2019, 4, 27, 0, 2)
                ),
            )

            digests = sorted(c for r in evening for c in r.digests)  # type: ignore[attr-defined]
            reported = sorted(c for r in end for c in r.reported)  # type: ignore[attr-defined]
            closed = sorted(c for r in end for c in r.closed)  # type: ignore[attr-defined]
            assert digests == ids and reported == ids and closed == ids
            assert late == [[], [], [], []]
            with sessions() as s:
                for campaign_id in ids:
                    assert (
                        count(s, Summary, Summary.campaign_id == campaign_id, col(Summary.final))
                        == 1
                    )
                    assert count(s, Digest, Digest.campaign_id == campaign_id) == 1
                    kinds = event_kinds(s, campaign_id)
                    assert kinds.count("campaign.closed") == 1
                    assert kinds.count("campaign.reported") == 1
                    assert kinds.count("summary.compiled") == 1
                    assert kinds.count("digest.compiled") == 1
                # One delivery per recipient per summary: 4 campaigns x 2 summaries x 3.
                assert count(s, Delivery) == 4 * 2 * 3
                per_recipient = s.exec(
                    select(Delivery.summary_id, Delivery.recipient_id, func.count()).group_by(
                        col(Delivery.summary_id), col(Delivery.recipient_id)
                    )
                ).all()
                assert {n for *_, n in per_recipient} == {1}
    finally:
        for engine in engines:
            engine.dispose()
