"""Posting a campaign summary to a chat-group robot: each flavour's message, signature and answer.

`post_summary` sends one summary and returns, or raises one of the exceptions of
`campaigns.delivery.webhooks`, whose shared client carries the request.

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

Programming mistakes (a secret for a flavour that cannot sign, `extra` keys that would
overwrite the summary's own fields) raise ValueError before anything is sent.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any, Final, Literal

import httpx

from campaigns.delivery.webhook_redaction import redact_url, scrub, secrets_of
from campaigns.delivery.webhooks import WebhookRejectedError, WebhookRetryableError, post_json

Flavour = Literal["wecom", "dingtalk", "feishu", "webhook"]

logger = logging.getLogger(__name__)

# Robot codes that mean "slow down" or "busy, try again", not "this request is wrong".
_RETRYABLE_CODES: Final[Mapping[Flavour, frozenset[int]]] = {
    "wecom": frozenset({45009, -1}),
    "dingtalk": frozenset({130101, -1}),
    "feishu": frozenset({11232, 99991400}),
    "webhook": frozenset(),
}
# WeCom refuses markdown content longer than this many UTF-8 bytes (errcode 40058).
_WECOM_MARKDOWN_LIMIT: Final = 4096


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
    secrets = secrets_of(request_url, secret)
    where = f"{flavour} webhook {shown}"
    response = post_json(request_url, body, where=where, secrets=secrets)
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
        detail = scrub(detail, secrets)
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
