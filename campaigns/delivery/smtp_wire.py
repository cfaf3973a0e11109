"""What SMTP puts on the wire for a message: its envelope addresses and its DATA body."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import getaddresses

FINAL_DOT = b".\r\n"


def single_address(values: Sequence[str]) -> str:
    addresses = [addr for _, addr in getaddresses(list(values)) if addr]
    if len(addresses) != 1:
        raise ValueError("message must have exactly one From address")
    return check_envelope_address(addresses[0])


def check_envelope_address(address: str) -> str:
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


def wire_body(msg: EmailMessage) -> bytes:
    """The message as DATA transmits it: CRLF lines, dot-stuffed, with the final "."."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=msg.policy).flatten(msg, linesep="\r\n")
    # RFC 5321 forbids bare CR or LF in DATA; some servers treat them as line ends and
    # others not, which is what SMTP smuggling exploits.
    raw = re.sub(rb"\r\n|\r|\n", b"\r\n", buffer.getvalue())
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", raw) + FINAL_DOT
