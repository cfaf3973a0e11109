"""One SMTP connection carrying one message, driven step by step.

The dialogue (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA command, message body, final
reply) is driven one step at a time rather than through `smtplib.SMTP.sendmail`, because
what a failure means depends on the step it happened in: each step is a phase, and what
smtplib or the socket raises during it becomes the `SmtpError` subclass the phase calls for
(see `campaigns.delivery.smtp_outcomes`).

- TLS certificates are verified against the `tls_context` given (`send_message` uses the
  system trust store unless told otherwise); STARTTLS, when the configuration asks for it,
  is required, never optional.
- The password never appears in any error text: server reply text is scrubbed of it.

Every socket operation (connect, TLS handshake, each reply, each 64 KiB of the message)
is bounded by `SmtpConfig.timeout`. Host name resolution is not: it is left to the system
resolver. The wait for the reply to the final "." is bounded by the same timeout, though
RFC 5321 lets servers take up to 10 minutes there: against a server that scans mail
slowly, raise the timeout, or such sends end as SmtpUnknownOutcome.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from campaigns.delivery.smtp_config import SmtpConfig
from campaigns.delivery.smtp_outcomes import (
    SendResult,
    SmtpError,
    SmtpPermanentError,
    SmtpTemporaryError,
    SmtpUnknownOutcome,
)
from campaigns.delivery.smtp_wire import FINAL_DOT

_MAX_REPLY_TEXT = 300
# Python's socket timeout bounds a whole sendall(); sending in chunks makes it bound
# each stretch without progress instead, so a large message on a slow link still goes.
_SEND_CHUNK = 64 * 1024


class SmtpSession:
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
        view = memoryview(body)[: -len(FINAL_DOT)]
        with self._phase("data-body"):
            for start in range(0, len(view), _SEND_CHUNK):
                sock.sendall(view[start : start + _SEND_CHUNK])
        if before_final_dot is not None:
            before_final_dot()
        with self._phase("data-body"):
            sock.sendall(FINAL_DOT)
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


def _address_literal(ip: str) -> str:
    """The EHLO argument for a host without a name we can trust (RFC 5321 4.1.3)."""
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"
