"""The base every task runs on: transient failures retry, poison messages are quarantined.

- A database or broker that is briefly away (PostgreSQL restarting, SQLite busy, Redis
  reconnecting) is *transient*: the task retries with capped exponential backoff, for as
  long as it takes, and that does not count against the message.
- Anything else, and a worker that dies while running the message (SIGKILL, OOM, a
  segfault; acks_late then redelivers it), counts. After `CAMPAIGNS_POISON_LIMIT` counted
  attempts the message goes to the `dead_letter` table instead of blocking the queue
  forever; `campaigns dead-letters` shows it and `replay` sends it again.

Attempts are counted in Redis (INCR on the task id, before running), because a worker that
crashed cannot write down that it crashed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import traceback
from typing import Any

import redis
from celery import Task
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError

from campaigns.db import session_scope
from campaigns.runtime.deadletters import quarantine
from campaigns.settings import get_settings

log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (OperationalError, RedisError, ConnectionError)
_COUNTER_TTL_SECONDS = 7 * 24 * 3600
_clients: dict[int, redis.Redis] = {}


def _counter_client(broker_url: str) -> redis.Redis:
    pid = os.getpid()
    if pid not in _clients:
        url = broker_url.replace("redis+socket://", "unix://", 1)
        _clients.clear()
        _clients[pid] = redis.Redis.from_url(url, socket_timeout=10)
    return _clients[pid]


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class ReliableTask(Task):  # type: ignore[type-arg]
    abstract = True
    # Retries never run out by count (Celery's default is 3, after which the message would
    # be acked as failed and its tallies lost); the poison limit and backoff bound them.
    max_retries = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        settings = get_settings()
        task_id = self.request.id
        counter = f"campaigns:attempts:{task_id}"
        client = _counter_client(str(self.app.conf.broker_url)) if task_id else None
        attempts = 0
        if client is not None:
            try:
                attempts = int(client.incr(counter))
                client.expire(counter, _COUNTER_TTL_SECONDS)
            except RedisError as exc:
                raise self._retry_later(exc) from exc
        if attempts > settings.poison_limit:
            self._quarantine(args, "crashed its worker or failed too often", attempts)
            return None
        try:
            result = super().__call__(*args, **kwargs)
        except Exception as exc:
            if _is_transient(exc):
                if client is not None:
                    with contextlib.suppress(RedisError):
                        client.decr(counter)
                log.warning("%s[%s]: transient failure, retrying: %s", self.name, task_id, exc)
                raise self._retry_later(exc) from exc
            if attempts >= settings.poison_limit:
                error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                self._quarantine(args, error, attempts)
                return None
            log.warning("%s[%s]: attempt %d failed: %r", self.name, task_id, attempts, exc)
            raise self._retry_later(exc) from exc
        if client is not None:
            # The count only has to outlive a crash; Redis keeps no key per finished task.
            with contextlib.suppress(RedisError):
                client.delete(counter)
        return result

    def _retry_later(self, exc: Exception) -> BaseException:
        settings = get_settings()
        delay = min(
            settings.retry_backoff_seconds * 2**self.request.retries,
            settings.retry_backoff_max_seconds,
        )
        jittered = delay * (0.5 + random.random() / 2)
        return self.retry(exc=exc, countdown=jittered, max_retries=None)

    def _quarantine(self, args: tuple[Any, ...], error: str, attempts: int) -> None:
        log.error(
            "%s[%s]: quarantined after %d attempts: %s", self.name, self.request.id, attempts, error
        )
        with session_scope() as session:
            quarantine(
                session=session,
                task_id=str(self.request.id),
                task_name=self.name,
                args=args,
                error=error,
                attempts=attempts,
            )
