"""Where and how to reach the SMTP server: `SmtpConfig` and the `smtp://` URLs that give it.

- `smtp://` is plain SMTP and never upgrades on its own; `smtp+starttls://` (or
  `smtp://...?starttls=1`) requires STARTTLS and fails if the server does not offer it,
  so an attacker who strips the STARTTLS capability cannot downgrade the session;
  `smtps://` is implicit TLS.
- The password never appears in `repr(SmtpConfig)`, and URL parsing errors do not quote
  the URL, which may hold it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

Security = Literal["plain", "starttls", "tls"]

_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach the SMTP server."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    security: Security
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.host or any(not c.isprintable() or c.isspace() for c in self.host):
            raise ValueError("SMTP host is empty or holds whitespace or control characters")
        if not 0 < self.port < 65536:
            raise ValueError("SMTP port must be between 1 and 65535")
        if self.security not in ("plain", "starttls", "tls"):
            raise ValueError("SMTP security must be 'plain', 'starttls' or 'tls'")
        if (self.username is None) != (self.password is None):
            raise ValueError("SMTP username and password must be given together")
        if self.username is not None and not self.username.isprintable():
            raise ValueError("SMTP username holds control characters")
        if not self.timeout > 0:
            raise ValueError("SMTP timeout must be positive")


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse `smtp://[user:pass@]host[:port]`, `smtp+starttls://...` or `smtps://...`.

    `smtp://...?starttls=1` is the same as `smtp+starttls://...`. User and password are
    percent-decoded (write `@` in a password as `%40`). Default ports: 25, 587, 465.
    Errors never quote the URL, which may hold the password.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("SMTP URL is malformed (is the password percent-encoded?)") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError("SMTP URL scheme must be smtp://, smtp+starttls:// or smtps://")
    security, default_port = _SCHEMES[scheme]
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("SMTP URL must not have a path or fragment")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls" or scheme != "smtp" or value.lower() not in _TRUE | _FALSE:
            raise ValueError("SMTP URL accepts only ?starttls=1 or ?starttls=0, on smtp://")
        if value.lower() in _TRUE:
            security = "starttls"
    if not parts.hostname:
        raise ValueError("SMTP URL has no host")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if (username is None) != (password is None):
        raise ValueError("SMTP URL must give both user and password, or neither")
    return SmtpConfig(
        host=parts.hostname,
        port=default_port if port is None else port,
        username=username,
        password=password,
        security=security,
    )
