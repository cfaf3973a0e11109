"""The Celery app: Redis broker, JSON only, late acks, one message at a time per worker."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_init, worker_process_init

from campaigns.runtime.broker import broker_url
from campaigns.settings import get_settings


def make_app() -> Celery:
    settings = get_settings()
    app = Celery(
        "campaigns",
        include=["workers.tally_tasks", "workers.summary_tasks", "workers.delivery_tasks"],
        # Every task retries transient failures and quarantines poison messages.
        task_cls="workers.reliability:ReliableTask",
    )
    app.conf.update(
        broker_url=broker_url(settings),
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit_seconds,
        task_soft_time_limit=max(settings.task_time_limit_seconds - 30, 10),
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            # kombu sweeps for unacked messages of dead workers only every
            # interval x throttle seconds (100 s by default): sweep every 5 s, so a
            # killed worker's chunks come back soon after the visibility timeout.
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 10,
            # A broker that vanishes without closing the connection (a network cut) would
            # otherwise block the worker's event loop until TCP gives up: seen for 25 s
            # after the multi-host test's cut ended. BRPOP waits 1 s, far below this.
            "socket_timeout": 15,
            "socket_keepalive": True,
            "health_check_interval": 10,
        },
        broker_connection_retry_on_startup=True,
        task_default_queue="campaigns",
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "dispatch": {
                "task": "campaigns.dispatch",
                "schedule": settings.dispatch_interval_seconds,
                # A dispatch not picked up before the next one is pointless.
                "options": {"expires": settings.dispatch_interval_seconds},
            }
        },
    )
    from workers.sweep_clock import SweepClock

    app.steps["worker"].add(SweepClock)
    if settings.visibility_timeout_seconds <= settings.task_time_limit_seconds:
        raise ValueError(
            "CAMPAIGNS_VISIBILITY_TIMEOUT_SECONDS must exceed CAMPAIGNS_TASK_TIME_LIMIT_SECONDS"
        )
    return app


app = make_app()


@worker_process_init.connect
def _fresh_engine_per_process(**_: object) -> None:
    from campaigns.db import reset_engine

    reset_engine()


@worker_init.connect
def _load_charting_before_the_pool_forks(**_: object) -> None:
    # Every delivery draws a chart. Loading matplotlib and the CJK font once here, before
    # the prefork pool starts, spares each child seconds of it on its first delivery.
    from campaigns.summaries.chart import render_daily_chart_bytes

    render_daily_chart_bytes({}, title="宣传活动")
