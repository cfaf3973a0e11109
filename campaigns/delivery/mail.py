"""The outcome-summary email: header checks, Message-ID minting and the MIME message itself.

The message is built with `email.policy.default`, so Chinese subjects and display names
are RFC 2047-encoded and Chinese attachment filenames RFC 2231-encoded by the library.
Every body part is base64, which keeps the serialised message 7-bit clean: it can be sent
to any SMTP server, with or without 8BITMIME.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

# The literal the HTML uses for the chart; replaced by the real Content-ID. The lookahead
# keeps "cid:chart2" or "cid:chart.png" from matching.
CHART_PLACEHOLDER = "cid:chart"
_CHART_PLACEHOLDER_RE = re.compile(re.escape(CHART_PLACEHOLDER) + r"(?![\w.@-])")

# Unicode line and paragraph separators are not control characters, yet some parsers
# (Python's own str.splitlines among them) break lines on them.
_LINE_BREAKING_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


class HeaderInjectionError(ValueError):
    """A header-bound value holds a character that could end or fold the header."""


def check_header_value(name: str, value: str) -> str:
    """Return `value` unchanged, or raise HeaderInjectionError if it holds a control
    character (C0, DEL, C1: CR, LF, NUL, TAB included) or a Unicode line separator.

    The error names the header and the offending code point, never the value itself,
    which may be a secret or attacker-controlled.
    """
    for position, char in enumerate(value):
        if unicodedata.category(char) in _LINE_BREAKING_CATEGORIES:
            raise HeaderInjectionError(
                f"header {name}: control or line-break character U+{ord(char):04X}"
                f" at position {position}"
            )
    return value


def make_message_id(domain: str) -> str:
    """Return a fresh Message-ID `<uuid4hex@domain>`.

    The caller mints it once per delivery and stores it before the first attempt, so a
    retry re-sends the same Message-ID and receiving systems can drop the duplicate.
    """
    check_header_value("Message-ID", domain)
    if not domain or any(c.isspace() or c in '<>@()[]\\,;:"' for c in domain):
        raise ValueError("Message-ID domain must be a bare domain name")
    return f"<{uuid.uuid4().hex}@{domain}>"


def _address(header: str, addr_spec: str, display_name: str | None) -> Address:
    check_header_value(header, addr_spec)
    if display_name is not None:
        check_header_value(header, display_name)
    try:
        return Address(display_name=display_name or "", addr_spec=addr_spec)
    except ValueError:
        # Address's own message quotes the value; ours does not.
        raise ValueError(f"header {header}: not a single valid address") from None


def build_summary_message(
    *,
    sender: str,
    sender_name: str | None,
    to: str,
    to_name: str | None,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    chart_png: bytes | None = None,
    attachments: Sequence[tuple[str, bytes, str]] = (),
) -> EmailMessage:
    """Build the summary email.

    Structure, with the optional layers present only when they have content:
    multipart/mixed[ multipart/alternative[ text/plain, multipart/related[ text/html,
    image/png ] ], attachments... ]. Without `chart_png` the HTML part stands alone; without
    `attachments` the top level is the multipart/alternative.

    `html` must contain the literal "cid:chart" exactly when `chart_png` is given; it is
    replaced by the image's real Content-ID. `attachments` are (filename, data, mime type);
    a `text/*` attachment's data must be UTF-8 (its Content-Type says so).
    """
    from_address = _address("From", sender, sender_name)
    to_address = _address("To", to, to_name)
    check_header_value("Subject", subject)
    check_header_value("Message-ID", message_id)
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        raise ValueError("header Message-ID: must look like <id@domain>")
    checked_attachments = [_checked_attachment(*attachment) for attachment in attachments]

    references_chart = _CHART_PLACEHOLDER_RE.search(html) is not None
    if (chart_png is not None) != references_chart:
        raise ValueError("html must reference 'cid:chart' exactly when a chart image is given")

    msg = EmailMessage(policy=policy.default)
    msg["From"] = from_address
    msg["To"] = to_address
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = message_id

    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    if chart_png is None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    else:
        cid = make_msgid(idstring="chart", domain=from_address.domain)
        html = _CHART_PLACEHOLDER_RE.sub(lambda _: "cid:" + cid[1:-1], html)
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
        _, html_part = msg.iter_parts()
        html_part.add_related(
            chart_png,
            maintype="image",
            subtype="png",
            cid=cid,
            disposition="inline",
            filename="chart.png",
        )

    for filename, data, maintype, subtype in checked_attachments:
        # Without a charset, readers take text as US-ASCII and garble the Chinese.
        params = {"charset": "utf-8"} if maintype == "text" else None
        msg.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=filename, params=params
        )
    return msg


def _checked_attachment(filename: str, data: bytes, mime_type: str) -> tuple[str, bytes, str, str]:
    """(filename, data, maintype, subtype), or ValueError before any part is built."""
    check_header_value("Content-Disposition filename", filename)
    check_header_value("Content-Type", mime_type)
    if not filename:
        raise ValueError("attachment filename is empty")
    maintype, slash, subtype = mime_type.partition("/")
    if not slash or not maintype or not subtype or " " in mime_type:
        raise ValueError("attachment mime type must look like 'type/subtype'")
    return filename, data, maintype, subtype
