"""The sweep clock: every worker's main process publishes a tally sweep every few seconds.

Why in the worker and not only in beat: a lost chunk is a worker's problem (the worker that
died held it, or its BRPOP lost it), and an installation may run workers without a beat;
with several workers, each sweeps, and the sweep itself is safe to run twice. Publishing
goes through the queue, so the sweep runs after everything published before it: that is
what lets it tell a lost chunk from one still waiting its turn (tallies.sweeper).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps

from campaigns.models import utcnow
from campaigns.settings import get_settings

log = logging.getLogger(__name__)


def sweep_interval_seconds() -> float:
    return max(min(get_settings().sweep_after_seconds / 6, 10.0), 1.0)


class SweepClock(bootsteps.StartStopStep):
    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._entry: Any = None

    def start(self, worker: Any) -> None:
        self._entry = worker.timer.call_repeatedly(
            sweep_interval_seconds(), self._publish, (worker.app,), priority=10
        )

    def stop(self, worker: Any) -> None:
        if self._entry is not None:
            self._entry.cancel()
            self._entry = None

    def _publish(self, app: Any) -> None:
        # The timer runs in the worker's event loop: never retry here, the next tick will.
        try:
            app.send_task("campaigns.sweep_tallies", args=[utcnow().isoformat()], retry=False)
        except Exception as exc:
            log.warning("tally sweep not published (the next tick tries again): %s", exc)
