"""Delivery tasks: one attempt per message, claimed and recorded around the network call."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init

from campaigns.db import session_scope
from campaigns.delivery.attempts import attempt_delivery
from campaigns.models import DeliveryStatus, utcnow
from campaigns.settings import get_settings
from workers.app import app


@worker_process_init.connect
def _webhook_timeouts(**_: object) -> None:
    from campaigns.delivery.webhooks import configure_client

    configure_client(get_settings().delivery_webhook_timeout_seconds)


@app.task(name="campaigns.send_delivery", bind=True)
def send_delivery(self: Any, delivery_id: int) -> None:
    settings = get_settings()
    delivery = attempt_delivery(
        delivery_id, sessions=session_scope, settings=settings, task_id=self.request.id
    )
    if (
        delivery is None
        or delivery.status != DeliveryStatus.retrying
        or delivery.next_attempt_at is None
    ):
        return
    delay = (delivery.next_attempt_at - utcnow()).total_seconds()
    # A countdown held past the visibility timeout would be redelivered meanwhile: longer
    # waits are left to the dispatcher, which re-enqueues due retries on every pass.
    if delay < settings.visibility_timeout_seconds / 2:
        # A little late rather than early: an early claim finds the retry not yet due.
        send_delivery.apply_async((delivery_id,), countdown=max(delay, 0.0) + 0.2)
