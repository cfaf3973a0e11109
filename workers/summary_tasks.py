"""Lifecycle tasks: the periodic dispatcher and summary compilation. Ids in, domain calls out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from campaigns.audit import current_actor
from campaigns.db import session_scope
from campaigns.models import utcnow
from campaigns.runtime.dispatcher import compile_and_list, run_dispatch
from campaigns.settings import get_settings
from workers.app import app
from workers.delivery_tasks import send_delivery


@app.task(name="campaigns.dispatch")
def dispatch() -> dict[str, Any]:
    settings = get_settings()
    result = run_dispatch(
        session_scope,
        now=utcnow(),
        digest_at=settings.digest_at,
        year_report_on=settings.year_report_day,
        zone=settings.zone,
        remind_before=timedelta(hours=settings.remind_before_hours),
    )
    # Enqueued only now, after every transaction of the pass has committed.
    for delivery_id in result.deliveries:
        send_delivery.delay(delivery_id)
    return {
        "opened": result.opened,
        "closed": result.closed,
        "digests": result.digests,
        "reminded": result.reminded,
        "reported": result.reported,
        "year_reports": result.year_reports,
    }


@app.task(name="campaigns.compile_summary")
def compile_summary(campaign_id: str) -> None:
    for delivery_id in compile_and_list(
        session_scope, campaign_id, actor=current_actor(), now=utcnow()
    ):
        send_delivery.delay(delivery_id)
