"""Keeping webhook credentials out of everything we show: URLs, error details, log lines.

Tokens live in URLs (a query parameter, or a path segment after ``hook``), signatures and
timestamps travel with them, and a server may echo any of them back in an error message.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

# Query parameters whose values are credentials (or, like timestamp, travel with one).
_SENSITIVE_PARAMS: Final = frozenset(
    {"key", "access_token", "token", "sign", "signature", "timestamp", "secret", "password"}
)
# Path segments after these hold the token (Feishu/Lark: /open-apis/bot/v2/hook/<token>).
_TOKEN_PATH_MARKERS: Final = frozenset({"hook", "hooks"})
_MASK: Final = "***"
_MAX_DETAIL: Final = 200
_CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f]+")


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


def secrets_of(url: httpx.URL, secret: str | None) -> list[str]:
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


def scrub(detail: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        detail = detail.replace(value, _MASK)
    detail = _CONTROL_CHARS.sub(" ", detail).strip()
    return detail if len(detail) <= _MAX_DETAIL else detail[:_MAX_DETAIL] + "…"
