"""The process's one httpx client, and the small exception tree every webhook failure ends as.

This module owns the process's one `httpx.Client` (`get_client`, `close_client`,
`configure_client`) and is where httpx's transport errors become our own exceptions:
`post_json` sends one body on the client and returns the response, or raises. What each
chat-group robot is sent, and how its answer is read, is in
`campaigns.delivery.webhook_robots`.

Exceptions:

    WebhookError                   base; str() names the flavour, the redacted URL and the cause,
    |                              never a token, signature or secret
    +-- WebhookRetryableError      try again later; ``retry_after`` (seconds or None) comes from
    |                              Retry-After (delay-seconds or HTTP-date) or Feishu's
    |                              x-ogw-ratelimit-reset. Raised for HTTP 408, 429 and 5xx,
    |                              timeouts, connection and protocol errors, and the robots'
    |                              own rate-limit / busy codes (WeCom 45009 and -1, DingTalk
    |                              130101 and -1, Feishu 11232 and 99991400).
    +-- WebhookRejectedError       the same request will fail again; ``code`` is the robot's
                                   errcode when it gave one, else the HTTP status, else None.
                                   Raised for other non-2xx statuses (redirects are not
                                   followed), a non-zero errcode in a robot's answer (DingTalk
                                   310000 sign mismatch, WeCom 93000 invalid key, ...), a robot
                                   answer that is not JSON or has no code, and unusable URLs.

Tokens live in URLs, so URLs are only ever shown through `redact_url`
(`campaigns.delivery.webhook_redaction`); a logging filter on the ``httpx`` logger applies
it to httpx's own request log lines too.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final

import httpx

from campaigns.delivery.webhook_redaction import redact_url, scrub

DEFAULT_TIMEOUT: Final = httpx.Timeout(15.0, connect=5.0)


class WebhookError(Exception):
    """A summary could not be posted; str() is safe to log."""


class WebhookRetryableError(WebhookError):
    """Temporary failure: the same request may succeed later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps retry_after through pickling (Celery ships task exceptions between processes).
        return (type(self), (str(self), self.retry_after))


class WebhookRejectedError(WebhookError):
    """Permanent failure: the receiver refused this request and would refuse it again."""

    def __init__(self, message: str, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.code))


class _RedactUrlFilter(logging.Filter):
    """Masks the URL httpx puts in its INFO line for every request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactUrlFilter())


class _ClientState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: httpx.Client | None = None
        self.pid = 0
        self.timeout: httpx.Timeout = DEFAULT_TIMEOUT


_state = _ClientState()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at fork time; the child must not inherit it locked.
    _state.lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_client() -> httpx.Client:
    """The process's shared client, created on first use and again in a forked child."""
    pid = os.getpid()
    client = _state.client
    if client is not None and _state.pid == pid:
        return client
    with _state.lock:
        if _state.client is None or _state.pid != pid:
            # A client inherited through fork shares its sockets (and TLS state) with the
            # parent: it is abandoned, never closed, so the parent's connections stay intact.
            _state.client = httpx.Client(
                timeout=_state.timeout,
                follow_redirects=False,
                headers={"User-Agent": "campaigns-webhooks"},
            )
            _state.pid = pid
        return _state.client


def close_client() -> None:
    """Close the shared client (if this process made one); the next call makes a new one."""
    with _state.lock:
        client, _state.client = _state.client, None
        if client is not None and _state.pid == os.getpid():
            client.close()


def configure_client(timeout: float | httpx.Timeout = DEFAULT_TIMEOUT) -> None:
    """Set the timeouts of clients made from now on (a float sets every phase) and drop the
    current client so the next `get_client` uses them."""
    _state.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    close_client()


def post_json(
    url: httpx.URL, body: Mapping[str, Any], *, where: str, secrets: Iterable[str]
) -> httpx.Response:
    """POST `body` as JSON to `url` on the shared client and return the response, whatever
    its status; transport errors raise. `where` opens each error message, and `secrets` are
    masked in the detail it quotes."""
    # Errors are raised `from None`: httpx exceptions carry the request and its URL, and a
    # chained traceback in a log would show them.
    try:
        return get_client().post(url, json=body)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise WebhookRejectedError(f"{where}: unusable URL") from None
    except httpx.TimeoutException as exc:
        raise WebhookRetryableError(f"{where}: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        detail = scrub(str(exc), secrets)
        raise WebhookRetryableError(f"{where}: {type(exc).__name__}: {detail}") from None
