"""The CLI's side of the broker: publish work for the workers, and wait for it when asked."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from campaigns.cli._common import console, session
from campaigns.errors import CampaignsError

if TYPE_CHECKING:
    from celery import Celery

    from campaigns.tallies.batches import BatchProgress


def celery_app() -> Celery:
    from workers.app import app

    return app


class PublishInterruptedError(CampaignsError):
    """The broker went away while a batch was being sent. What was `kept` (its pending copy
    committed) is accepted all the same: a worker's sweep publishes it once the broker is back.
    """

    def __init__(self, batch_id: str, *, kept: int, tallies: int, reason: str) -> None:
        self.batch_id, self.kept, self.tallies = batch_id, kept, tallies
        super().__init__(
            f"the broker stopped answering ({reason}) after {kept:,} of {tallies:,} tallies "
            "were kept: those are counted once a worker runs; run the same command again "
            "to send the rest (nothing is counted twice)"
        )

    @property
    def all_kept(self) -> bool:
        return self.kept >= self.tallies


_PENDING_GROUP = 25
_T = TypeVar("_T")


def _groups(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    group: list[_T] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def publish_tallies(
    campaign_id: str,
    chunks: Iterable[dict[str, Any]],
    *,
    source: str,
    tallies: int,
    chunk_count: int,
    digest: str | None = None,
    tally_key: str | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> str:
    """Record a batch, then send its chunks (`campaigns.tallies.encoding.encode_chunk`); its id.

    The broker is looked up first, so without one nothing is written. The batch row is
    committed before the first chunk leaves: a worker never sees a chunk of an unknown batch.
    """
    from campaigns.cli._common import actor
    from campaigns.tallies.batches import begin_batch, mark_published
    from campaigns.tallies.sweeper import keep_pending

    app = celery_app()
    with session() as s:
        batch_id = begin_batch(
            campaign_id,
            session=s,
            source=source,
            tallies=tallies,
            chunks=chunk_count,
            actor=actor(),
            digest=digest,
            tally_key=tally_key,
        ).id
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    kept = 0
    try:
        with app.producer_or_acquire() as producer:
            for group in _groups(enumerate(chunks), _PENDING_GROUP):
                # Kept in the database before they leave: the broker is not the record.
                with session() as s:
                    keep_pending(campaign_id, batch_id, group, session=s)
                kept += sum(int(chunk["n"]) for _, chunk in group)
                for seq, chunk in group:
                    app.send_task(
                        "campaigns.store_tally_chunk",
                        args=[campaign_id, batch_id, seq, chunk],
                        producer=producer,
                        # Celery would otherwise write a repr of the whole chunk into the
                        # message headers (for logs): a tenth of a second per hundred chunks.
                        argsrepr=f"[{campaign_id!r}, {batch_id!r}, {seq}, <{chunk['n']} tallies>]",
                    )
                    if on_chunk:
                        on_chunk(int(chunk["n"]))
    except (OperationalError, RedisError, OSError) as exc:
        # The exception's text may carry the broker URL, password included: not shown.
        raise PublishInterruptedError(
            batch_id, kept=kept, tallies=tallies, reason=type(exc).__name__
        ) from None
    with session() as s:
        mark_published(batch_id, session=s)
    return batch_id


def wait_for_batch(
    batch_id: str,
    *,
    timeout: float,
    on_progress: Callable[[int], None] | None = None,
) -> BatchProgress:
    """Wait until every chunk of the batch is stored (or refused), else say what is queued."""
    progress = poll_batch(batch_id, timeout=timeout, on_progress=on_progress)
    if not progress.complete:
        pending = progress.tallies - progress.tallies_done
        raise CampaignsError(
            f"{pending} of {progress.tallies} tallies not counted after {timeout:.0f} s: "
            "they are queued; is a worker running (`campaigns serve` or `campaigns worker`)?"
        )
    return progress


def poll_batch(
    batch_id: str,
    *,
    timeout: float,
    on_progress: Callable[[int], None] | None = None,
) -> BatchProgress:
    """The batch's progress once every chunk is stored (or refused), or when `timeout` ends."""
    from campaigns.db import read_session
    from campaigns.tallies.batches import batch_progress

    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        with read_session() as s:
            progress = batch_progress(batch_id, session=s)
        if on_progress:
            on_progress(progress.tallies_done)
        if progress.complete or time.monotonic() > deadline:
            return progress
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def enqueue_compile(campaign_id: str) -> None:
    from campaigns.runtime.broker import BrokerUnavailableError

    try:
        celery_app().send_task("campaigns.compile_summary", args=[campaign_id])
    except BrokerUnavailableError:
        console().print("no broker running: the summary follows when `campaigns serve` runs")


def wait_for_delivery(campaign_id: str, *, timeout: float) -> None:
    """Wait until every delivery of the newest summary is settled, and say how it ended.

    A retry due only after the wait would end counts as settled: it is shown, not waited for.
    """
    from collections import Counter
    from datetime import timedelta

    from campaigns.delivery.deliveries import list_deliveries
    from campaigns.models import CampaignStatus, DeliveryStatus, utcnow
    from campaigns.planning.campaigns import get_campaign

    deadline = time.monotonic() + timeout
    until = utcnow() + timedelta(seconds=timeout)
    final = {DeliveryStatus.sent, DeliveryStatus.failed, DeliveryStatus.unknown}
    while True:
        with session() as s:
            campaign = get_campaign(campaign_id, session=s)
            rows: list[Any] = list_deliveries(session=s, campaign_id=campaign_id)
        if campaign.status == CampaignStatus.reported:
            latest = max((r.version for r in rows), default=0)
            current = [r.delivery for r in rows if r.version == latest]
            if all(
                d.status in final
                or (
                    d.status == DeliveryStatus.retrying
                    and d.next_attempt_at is not None
                    and d.next_attempt_at > until
                )
                for d in current
            ):
                counts = Counter(str(d.status) for d in current)
                sent = counts.pop(DeliveryStatus.sent.value, 0)
                line = f"summary delivered: {sent} of {len(current)} sent"
                if counts:
                    others = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
                    line += f"; {others} (see `campaigns deliveries`)"
                console().print(line)
                return
        if time.monotonic() >= deadline:
            raise CampaignsError(f"{campaign_id}: summary not delivered after {timeout:.0f} s")
        time.sleep(0.3)
