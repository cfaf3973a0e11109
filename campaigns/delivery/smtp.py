"""Sending one email over SMTP, with each way it can end classified precisely.

The SMTP dialogue is driven step by step (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA
command, message body, final reply) rather than through `smtplib.SMTP.sendmail`, because
what a failure means depends on the step it happened in.

Outcomes of `send_message`:

    SendResult                 the server accepted the message (250 after the final ".")
                               for `accepted`; `refused` holds per-recipient RCPT refusals
                               (code, text) when at least one other recipient was accepted.
    ValueError                 bad input, found before connecting (no usable envelope
                               address, a Bcc header); nothing was sent.
    SmtpError                  base of everything the server or the network caused;
                               carries `phase` and, for server replies, `code`.
    ├── SmtpTemporaryError     retry later with backoff: a 4xx reply anywhere (including
    │                          4xx to the final "."), or the connection refused, reset,
    │                          timed out or closed before the final "." was sent, or every
    │                          recipient refused with at least one 4xx among them.
    ├── SmtpPermanentError     do not retry: a 5xx reply (550 to MAIL FROM, every recipient
    │                          refused with 5xx, 554 after DATA, 535 bad credentials), an
    │                          unexpected reply code, a server certificate that fails
    │                          verification, STARTTLS or AUTH required but not offered, or
    │                          credentials configured for an unencrypted non-loopback host.
    └── SmtpUnknownOutcome     the final "." was sent but no well-formed reply came (the
                               connection dropped or timed out): the server may have
                               delivered the message (RFC 1047). Never retry automatically.

Security choices:

- `smtp://` is plain SMTP and never upgrades on its own; `smtp+starttls://` (or
  `smtp://...?starttls=1`) requires STARTTLS and fails if the server does not offer it,
  so an attacker who strips the STARTTLS capability cannot downgrade the session;
  `smtps://` is implicit TLS. TLS certificates are verified (system trust store unless a
  `tls_context` is given).
- Credentials are only sent over TLS, or in the clear to a loopback host (a local relay
  or test server), where nothing crosses a network.
- The password never appears in `repr(SmtpConfig)` or in any error text: URL parsing
  errors do not quote the URL, and server reply text is scrubbed of it.

Every socket operation (connect, TLS handshake, each reply, each 64 KiB of the message)
is bounded by `SmtpConfig.timeout`. Host name resolution is not: it is left to the system
resolver. The wait for the reply to the final "." is bounded by the same timeout, though
RFC 5321 lets servers take up to 10 minutes there: against a server that scans mail
slowly, raise the timeout, or such sends end as SmtpUnknownOutcome.
"""

from __future__ import annotations

import io
import ipaddress
import re
import smtplib
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import getaddresses
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
_MAX_REPLY_TEXT = 300
# Python's socket timeout bounds a whole sendall(); sending in chunks makes it bound
# each stretch without progress instead, so a large message on a slow link still goes.
_SEND_CHUNK = 64 * 1024
_FINAL_DOT = b".\r\n"


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


@dataclass(frozen=True)
class SendResult:
    """Recipients the server took the message for, and those it refused at RCPT."""

    accepted: tuple[str, ...]
    refused: dict[str, tuple[int, str]]


class SmtpError(Exception):
    """The server or the network stopped the send. `str()` never holds the password."""

    def __init__(self, message: str, phase: str, code: int | None = None) -> None:
        # All three in args: pickle and Celery rebuild exceptions as cls(*args).
        super().__init__(message, phase, code)
        self.phase = phase
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0])


class SmtpTemporaryError(SmtpError):
    """Not sent, for a reason that may pass: retry later with backoff."""


class SmtpPermanentError(SmtpError):
    """Not sent, and retrying the same message will not help."""


class SmtpUnknownOutcome(SmtpError):
    """The whole message reached the wire but its reply did not: it may be delivered."""


def send_message(
    msg: EmailMessage,
    *,
    config: SmtpConfig,
    recipients: Sequence[str] | None = None,
    tls_context: ssl.SSLContext | None = None,
    before_final_dot: Callable[[], None] | None = None,
) -> SendResult:
    """Send `msg` once to `recipients` (default: its To and Cc addresses).

    The envelope sender is the From address. See the module docstring for the outcomes.

    `before_final_dot` runs once the whole message but its terminating "." is on the
    wire: the last moment at which the send can still be abandoned without any chance
    of delivery. A caller records there that the message may be delivered from now on.
    If it raises, the connection is closed without the ".", so the server discards the
    message, and its exception propagates unchanged.
    """
    sender = _single_address(msg.get_all("From") or [])
    if "Bcc" in msg:
        raise ValueError("message has a Bcc header, which would be sent to every recipient")
    if recipients is None:
        headers = [*msg.get_all("To", []), *msg.get_all("Cc", [])]
        recipients = [addr for _, addr in getaddresses(headers)]
    rcpts = list(dict.fromkeys(_check_envelope_address(r) for r in recipients))
    if not rcpts:
        raise ValueError("message has no recipients")
    body = _wire_body(msg)
    if config.username is not None and config.security == "plain" and not _is_loopback(config.host):
        raise SmtpPermanentError(
            f"refusing to send SMTP credentials unencrypted to {config.host}:{config.port};"
            " use smtps:// or smtp+starttls://",
            phase="auth",
        )
    session = _Session(config, tls_context or ssl.create_default_context())
    return session.send(sender, rcpts, body, before_final_dot)


class _Session:
    """One SMTP connection carrying one message; raises SmtpError subclasses."""

    def __init__(self, config: SmtpConfig, tls_context: ssl.SSLContext) -> None:
        self._config = config
        self._tls_context = tls_context
        self._where = f"SMTP {config.host}:{config.port}"

    def send(
        self,
        sender: str,
        rcpts: list[str],
        body: bytes,
        before_final_dot: Callable[[], None] | None,
    ) -> SendResult:
        smtp = self._connect()
        try:
            self._hello(smtp)
            if self._config.security == "starttls":
                self._starttls(smtp)
            if self._config.username is not None and self._config.password is not None:
                self._login(smtp, self._config.username, self._config.password)
            self._mail(smtp, sender, needs_8bit=not body.isascii())
            accepted, refused = self._rcpt(smtp, rcpts)
            self._data(smtp, body, before_final_dot)
            with suppress(OSError):
                smtp.quit()
            return SendResult(accepted=tuple(accepted), refused=refused)
        finally:
            smtp.close()

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        with self._phase("connect"):
            # local_hostname is replaced below; passing it skips smtplib's socket.getfqdn(),
            # a DNS lookup that no timeout bounds.
            smtp: smtplib.SMTP
            if config.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    config.host,
                    config.port,
                    local_hostname="localhost",
                    timeout=config.timeout,
                    context=self._tls_context,
                )
            else:
                smtp = smtplib.SMTP(
                    config.host, config.port, local_hostname="localhost", timeout=config.timeout
                )
        assert smtp.sock is not None
        smtp.local_hostname = _address_literal(smtp.sock.getsockname()[0])
        return smtp

    def _hello(self, smtp: smtplib.SMTP) -> None:
        with self._phase("ehlo"):
            code, text = smtp.ehlo()
            # An old server that does not know EHLO (5xx) may still speak plain SMTP.
            if 500 <= code < 600 and self._config.security == "plain":
                code, text = smtp.helo()
        if code != 250:
            raise self._reply_error("ehlo", code, text)

    def _starttls(self, smtp: smtplib.SMTP) -> None:
        if not smtp.has_extn("starttls"):
            raise SmtpPermanentError(
                f"{self._where} starttls: server does not offer STARTTLS", phase="starttls"
            )
        with self._phase("starttls"):
            smtp.starttls(context=self._tls_context)
        # RFC 3207: forget what the server said before TLS and ask again.
        self._hello(smtp)

    def _login(self, smtp: smtplib.SMTP, username: str, password: str) -> None:
        if not smtp.has_extn("auth"):
            raise SmtpPermanentError(
                f"{self._where} auth: server does not offer AUTH", phase="auth"
            )
        with self._phase("auth"):
            try:
                smtp.login(username, password)
            except UnicodeEncodeError:
                # smtplib encodes credentials as ASCII; its error would quote a character.
                raise SmtpPermanentError(
                    f"{self._where} auth: user name and password must be ASCII", phase="auth"
                ) from None

    def _mail(self, smtp: smtplib.SMTP, sender: str, *, needs_8bit: bool) -> None:
        options: list[str] = []
        if needs_8bit:
            if not smtp.has_extn("8bitmime"):
                raise SmtpPermanentError(
                    f"{self._where} mail: message has 8-bit content, server lacks 8BITMIME",
                    phase="mail",
                )
            options.append("BODY=8BITMIME")
        with self._phase("mail"):
            code, text = smtp.mail(sender, options)
        if code != 250:
            raise self._reply_error("mail", code, text)

    def _rcpt(
        self, smtp: smtplib.SMTP, rcpts: list[str]
    ) -> tuple[list[str], dict[str, tuple[int, str]]]:
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        for rcpt in rcpts:
            with self._phase("rcpt"):
                code, text = smtp.rcpt(rcpt)
            if code in (250, 251):
                accepted.append(rcpt)
            else:
                refused[rcpt] = (code, self._text(text))
        if not accepted:
            summary = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
            error_type: type[SmtpError] = (
                SmtpTemporaryError
                if any(400 <= c < 500 for c, _ in refused.values())
                else SmtpPermanentError
            )
            first_code = next(iter(refused.values()))[0]
            raise error_type(
                f"{self._where} rcpt: every recipient refused: {summary}",
                phase="rcpt",
                code=first_code,
            )
        return accepted, refused

    def _data(
        self, smtp: smtplib.SMTP, body: bytes, before_final_dot: Callable[[], None] | None
    ) -> None:
        with self._phase("data-command"):
            code, text = smtp.docmd("DATA")
        if code != 354:
            raise self._reply_error("data-command", code, text)
        assert smtp.sock is not None
        sock = smtp.sock
        # A failure while sending leaves the message without its terminator, which the
        # server must discard; only once the final "." is out is the outcome in doubt.
        view = memoryview(body)[: -len(_FINAL_DOT)]
        with self._phase("data-body"):
            for start in range(0, len(view), _SEND_CHUNK):
                sock.sendall(view[start : start + _SEND_CHUNK])
        if before_final_dot is not None:
            before_final_dot()
        with self._phase("data-body"):
            sock.sendall(_FINAL_DOT)
        with self._phase("final-reply"):
            code, text = smtp.getreply()
        if 200 <= code < 300:
            return
        if 400 <= code < 600:
            raise self._reply_error("final-reply", code, text)
        raise SmtpUnknownOutcome(
            f"{self._where} final-reply: unexpected reply {code} after the message was sent;"
            " it may have been delivered",
            phase="final-reply",
            code=code,
        )

    @contextmanager
    def _phase(self, phase: str) -> Iterator[None]:
        """Translate what smtplib and the socket raise during `phase` into SmtpError."""
        try:
            yield
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as exc:
            if phase == "final-reply":
                raise SmtpUnknownOutcome(
                    f"{self._where} final-reply: {self._describe(exc)} after the message was"
                    " sent; it may have been delivered",
                    phase=phase,
                ) from None
            if isinstance(exc, smtplib.SMTPResponseException):
                raise self._reply_error(phase, exc.smtp_code, exc.smtp_error) from None
            if isinstance(exc, smtplib.SMTPServerDisconnected):
                raise SmtpTemporaryError(
                    f"{self._where} {phase}: {self._describe(exc)}", phase=phase
                ) from None
            if isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPException):
                raise SmtpPermanentError(
                    f"{self._where} {phase}: {self._describe(exc)}", phase=phase
                ) from None
            raise SmtpTemporaryError(
                f"{self._where} {phase}: {self._describe(exc)}", phase=phase
            ) from exc

    def _reply_error(self, phase: str, code: int, text: bytes | str) -> SmtpError:
        message = f"{self._where} {phase}: {code} {self._text(text)}"
        if 400 <= code < 500:
            return SmtpTemporaryError(message, phase=phase, code=code)
        return SmtpPermanentError(message, phase=phase, code=code)

    def _describe(self, exc: BaseException) -> str:
        return self._text(f"{type(exc).__name__}: {exc}")

    def _text(self, text: bytes | str) -> str:
        """Server-supplied text made safe to log: one line, bounded, password removed."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = " / ".join(line.strip() for line in text.splitlines()) or "(no text)"
        if self._config.password:
            text = text.replace(self._config.password, "***")
        return "".join(c if c.isprintable() else "?" for c in text[:_MAX_REPLY_TEXT])


def _single_address(values: Sequence[str]) -> str:
    addresses = [addr for _, addr in getaddresses(list(values)) if addr]
    if len(addresses) != 1:
        raise ValueError("message must have exactly one From address")
    return _check_envelope_address(addresses[0])


def _check_envelope_address(address: str) -> str:
    # The address is written into MAIL FROM / RCPT TO as is: anything beyond printable
    # ASCII without spaces or angle brackets could break or extend the command.
    if (
        "@" not in address
        or not address.isascii()
        or not address.isprintable()
        or any(c.isspace() or c in "<>" for c in address)
    ):
        raise ValueError("envelope address must be a printable ASCII addr-spec")
    return address


def _wire_body(msg: EmailMessage) -> bytes:
    """The message as DATA transmits it: CRLF lines, dot-stuffed, with the final "."."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=msg.policy).flatten(msg, linesep="\r\n")
    # RFC 5321 forbids bare CR or LF in DATA; some servers treat them as line ends and
    # others not, which is what SMTP smuggling exploits.
    raw = re.sub(rb"\r\n|\r|\n", b"\r\n", buffer.getvalue())
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", raw) + _FINAL_DOT


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address_literal(ip: str) -> str:
    """The EHLO argument for a host without a name we can trust (RFC 5321 4.1.3)."""
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"
