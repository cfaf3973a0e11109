"""Chat-group webhooks: posts campaign summaries to WeCom, DingTalk, Feishu or any JSON endpoint.

This module owns the process's one `httpx.Client` (`get_client`, `close_client`,
`configure_client`). `post_summary` sends one summary and returns, or raises.

Flavours (the flavour decides the body and how the answer is read; the URL is used whole):

* ``wecom``    企业微信 group robot, ``.../cgi-bin/webhook/send?key=...``; markdown message;
               success is ``{"errcode": 0}``. Takes no secret.
* ``dingtalk`` 钉钉 robot, ``.../robot/send?access_token=...``; markdown message; with a
               secret the URL gets ``timestamp`` (ms) and ``sign`` =
               base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")); success is
               ``{"errcode": 0}``.
* ``feishu``   飞书 bot, ``.../open-apis/bot/v2/hook/<token>``; "post" message with the title
               and the plain text; with a secret the body gets ``timestamp`` (s) and ``sign`` =
               base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b"")); success is
               ``{"code": 0}`` (older bots: ``{"StatusCode": 0}``).
* ``webhook``  generic JSON POST ``{"title", "text", "markdown", **extra}`` (callers put
               ``campaign_id`` in `extra`); any 2xx is success. Takes no secret.

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

Programming mistakes (a secret for a flavour that cannot sign, `extra` keys that would
overwrite the summary's own fields) raise ValueError before anything is sent.

Tokens live in URLs, so URLs are only ever shown through `redact_url`; a logging filter
on the ``httpx`` logger applies it to httpx's own request log lines too.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import itertools
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

Flavour = Literal["wecom", "dingtalk", "feishu", "webhook"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = httpx.Timeout(15.0, connect=5.0)

# Query parameters whose values are credentials (or, like timestamp, travel with one).
_SENSITIVE_PARAMS: Final = frozenset(
    {"key", "access_token", "token", "sign", "signature", "timestamp", "secret", "password"}
)
# Path segments after these hold the token (Feishu/Lark: /open-apis/bot/v2/hook/<token>).
_TOKEN_PATH_MARKERS: Final = frozenset({"hook", "hooks"})
_MASK: Final = "***"

# Robot codes that mean "slow down" or "busy, try again", not "this request is wrong".
_RETRYABLE_CODES: Final[Mapping[Flavour, frozenset[int]]] = {
    "wecom": frozenset({45009, -1}),
    "dingtalk": frozenset({130101, -1}),
    "feishu": frozenset({11232, 99991400}),
    "webhook": frozenset(),
}
# WeCom refuses markdown content longer than this many UTF-8 bytes (errcode 40058).
_WECOM_MARKDOWN_LIMIT: Final = 4096
_MAX_DETAIL: Final = 200
_CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f]+")


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


def redact_url(url: str) -> str:
    """`url` with credentials masked: sensitive query values, hook path tokens, passwords."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        netloc = f"{_MASK}@{netloc}"
    segments = parts.path.split("/")
    for index in range(1, len(segments)):
        if segments[index - 1].lower() in _TOKEN_PATH_MARKERS and segments[index]:
            segments[index] = _MASK
    query = [
        (name, _MASK if name.lower() in _SENSITIVE_PARAMS else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(
        (parts.scheme, netloc, "/".join(segments), urlencode(query, safe="*"), parts.fragment)
    )


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


def post_summary(
    flavour: Flavour,
    url: str,
    *,
    title: str,
    markdown: str,
    text: str,
    secret: str | None = None,
    extra: Mapping[str, str] | None = None,
    now: Callable[[], float] = time.time,
) -> None:
    """Post one summary to `url` in the `flavour`'s format; return when it was accepted.

    `markdown` goes to WeCom and DingTalk, `text` (plain) to Feishu, all three to the
    generic webhook. `secret` signs DingTalk and Feishu requests. `extra` adds fields to
    the generic webhook's body only: the robots' bodies have a fixed schema. `now` gives
    the signing timestamp and the reference for HTTP-date Retry-After values.
    """
    if secret is not None and flavour not in ("dingtalk", "feishu"):
        raise ValueError(f"{flavour} webhooks are not signed: a secret cannot be used")
    body = _body(flavour, title=title, markdown=markdown, text=text, extra=extra or {})
    shown = redact_url(url)
    try:
        request_url = httpx.URL(url)
    except httpx.InvalidURL:
        raise WebhookRejectedError(f"{flavour} webhook: invalid URL {shown}") from None
    if secret is not None and flavour == "dingtalk":
        timestamp = str(round(now() * 1000))
        request_url = request_url.copy_merge_params(
            {"timestamp": timestamp, "sign": _dingtalk_sign(timestamp, secret)}
        )
    elif secret is not None and flavour == "feishu":
        timestamp = str(int(now()))
        body = {"timestamp": timestamp, "sign": _feishu_sign(timestamp, secret), **body}
    secrets = _secrets_of(request_url, secret)
    where = f"{flavour} webhook {shown}"

    # Errors are raised `from None`: httpx exceptions carry the request and its URL, and a
    # chained traceback in a log would show them.
    try:
        response = get_client().post(request_url, json=body)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise WebhookRejectedError(f"{where}: unusable URL") from None
    except httpx.TimeoutException as exc:
        raise WebhookRetryableError(f"{where}: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        detail = _scrub(str(exc), secrets)
        raise WebhookRetryableError(f"{where}: {type(exc).__name__}: {detail}") from None
    _check(flavour, response, where=where, secrets=secrets, now=now)
    logger.info("%s accepted %r", where, title)


def _body(
    flavour: Flavour, *, title: str, markdown: str, text: str, extra: Mapping[str, str]
) -> dict[str, Any]:
    if flavour == "wecom":
        content = _truncate_utf8(markdown, _WECOM_MARKDOWN_LIMIT)
        return {"msgtype": "markdown", "markdown": {"content": content}}
    if flavour == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
    if flavour == "feishu":
        paragraphs = [[{"tag": "text", "text": line}] for line in text.splitlines()]
        return {
            "msg_type": "post",
            "content": {"post": {"zh_cn": {"title": title, "content": paragraphs}}},
        }
    if flavour == "webhook":
        own = {"title": title, "text": text, "markdown": markdown}
        clashes = sorted(own.keys() & extra.keys())
        if clashes:
            raise ValueError(f"extra fields would overwrite the summary's own: {clashes}")
        return {**own, **extra}
    raise ValueError(f"unknown webhook flavour {flavour!r}")


def _truncate_utf8(value: str, limit: int) -> str:
    encoded = value.encode()
    if len(encoded) <= limit:
        return value
    marker = "…"
    cut = encoded[: limit - len(marker.encode())]
    return cut.decode(errors="ignore") + marker


def _dingtalk_sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    # httpx percent-encodes the query value, which is the "urlencode" DingTalk asks for.
    return base64.b64encode(digest).decode()


def _feishu_sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _secrets_of(url: httpx.URL, secret: str | None) -> list[str]:
    """Every credential string a server might echo back in an error message."""
    found = [secret] if secret else []
    found += [value for name, value in url.params.multi_items() if name in _SENSITIVE_PARAMS]
    segments = url.path.split("/")
    found += [
        segment
        for previous, segment in itertools.pairwise(segments)
        if previous.lower() in _TOKEN_PATH_MARKERS
    ]
    # Short values (a "1" timestamp, say) would mask unrelated text and protect nothing.
    return sorted({value for value in found if len(value) >= 4}, key=len, reverse=True)


def _scrub(detail: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        detail = detail.replace(value, _MASK)
    detail = _CONTROL_CHARS.sub(" ", detail).strip()
    return detail if len(detail) <= _MAX_DETAIL else detail[:_MAX_DETAIL] + "…"


def _check(
    flavour: Flavour,
    response: httpx.Response,
    *,
    where: str,
    secrets: list[str],
    now: Callable[[], float],
) -> None:
    status = response.status_code
    payload = _json_or_none(response)
    code: int | str | None = None
    detail = ""
    if flavour != "webhook" and isinstance(payload, dict):
        code, detail = _robot_code(flavour, payload)
        detail = _scrub(detail, secrets)
    described = (f"errcode {code}" + (f" ({detail})" if detail else "")) if code else ""

    if isinstance(code, int) and code in _RETRYABLE_CODES[flavour]:
        retry_after = _retry_after(response.headers, now)
        raise WebhookRetryableError(f"{where}: {described}", retry_after)
    if status in (408, 429) or status >= 500:
        retry_after = _retry_after(response.headers, now)
        suffix = f", {described}" if described else ""
        raise WebhookRetryableError(f"{where}: HTTP {status}{suffix}", retry_after)
    if not 200 <= status < 300:
        suffix = f", {described}" if described else ""
        raise WebhookRejectedError(f"{where}: HTTP {status}{suffix}", code or status)
    if flavour == "webhook":
        return
    if not isinstance(payload, dict):
        raise WebhookRejectedError(f"{where}: answer is not a JSON object")
    if code is None:
        raise WebhookRejectedError(f"{where}: answer has no error code")
    if code != 0:
        raise WebhookRejectedError(f"{where}: {described}", code)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # also UnicodeDecodeError
        return None


def _robot_code(flavour: Flavour, payload: Mapping[str, Any]) -> tuple[int | str | None, str]:
    if flavour == "feishu":
        raw = payload.get("code", payload.get("StatusCode"))
        message = payload.get("msg", payload.get("StatusMessage"))
    else:
        raw = payload.get("errcode")
        message = payload.get("errmsg")
    code: int | str | None
    if isinstance(raw, bool) or raw is None:
        code = None if raw is None else str(raw)
    elif isinstance(raw, int):
        code = raw
    else:
        text = str(raw).strip()
        code = int(text) if re.fullmatch(r"-?\d+", text) else text
    return code, "" if message is None else str(message)


def _retry_after(headers: httpx.Headers, now: Callable[[], float]) -> float | None:
    value = headers.get("retry-after") or headers.get("x-ogw-ratelimit-reset")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())
