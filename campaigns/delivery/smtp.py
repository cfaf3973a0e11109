"""Sending one email over SMTP, with each way it can end classified precisely.

`send_message` checks the message and the configuration before connecting, then hands
them to one `SmtpSession` (`campaigns.delivery.smtp_session`), which drives the dialogue
step by step. The outcomes, and when each is raised, are listed in
`campaigns.delivery.smtp_outcomes`; the URL schemes and what they promise about TLS in
`campaigns.delivery.smtp_config`.

Credentials are only sent over TLS, or in the clear to a loopback host (a local relay or
test server), where nothing crosses a network.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import getaddresses

from campaigns.delivery.smtp_config import SmtpConfig
from campaigns.delivery.smtp_outcomes import SendResult, SmtpPermanentError
from campaigns.delivery.smtp_session import SmtpSession
from campaigns.delivery.smtp_wire import check_envelope_address, single_address, wire_body


def send_message(
    msg: EmailMessage,
    *,
    config: SmtpConfig,
    recipients: Sequence[str] | None = None,
    tls_context: ssl.SSLContext | None = None,
    before_final_dot: Callable[[], None] | None = None,
) -> SendResult:
    """Send `msg` once to `recipients` (default: its To and Cc addresses).

    The envelope sender is the From address. See `campaigns.delivery.smtp_outcomes` for
    the outcomes.

    `before_final_dot` runs once the whole message but its terminating "." is on the
    wire: the last moment at which the send can still be abandoned without any chance
    of delivery. A caller records there that the message may be delivered from now on.
    If it raises, the connection is closed without the ".", so the server discards the
    message, and its exception propagates unchanged.
    """
    sender = single_address(msg.get_all("From") or [])
    if "Bcc" in msg:
        raise ValueError("message has a Bcc header, which would be sent to every recipient")
    if recipients is None:
        headers = [*msg.get_all("To", []), *msg.get_all("Cc", [])]
        recipients = [addr for _, addr in getaddresses(headers)]
    rcpts = list(dict.fromkeys(check_envelope_address(r) for r in recipients))
    if not rcpts:
        raise ValueError("message has no recipients")
    body = wire_body(msg)
    if config.username is not None and config.security == "plain" and not _is_loopback(config.host):
        raise SmtpPermanentError(
            f"refusing to send SMTP credentials unencrypted to {config.host}:{config.port};"
            " use smtps:// or smtp+starttls://",
            phase="auth",
        )
    session = SmtpSession(config, tls_context or ssl.create_default_context())
    return session.send(sender, rcpts, body, before_final_dot)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
