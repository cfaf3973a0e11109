"""How sending one email can end: `SendResult`, or an `SmtpError` saying what to do next.

Outcomes of `campaigns.delivery.smtp.send_message`:

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
"""

from __future__ import annotations

from dataclasses import dataclass


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
