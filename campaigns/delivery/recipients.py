"""Who receives summaries: email addresses and chat-group robots, for all campaigns or one.

A reporting unit's contact is a recipient too (`unit_code` set), made from the unit's
`contact` when it is first reminded: it gets that unit's reminders and never a summary or a
year's report, and it is not on the list `recipients add | list | remove` manage.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session, col, or_, select

from campaigns.audit import record_event
from campaigns.delivery.mail import HeaderInjectionError, check_header_value
from campaigns.errors import ConflictError, InvalidInputError, NotFoundError
from campaigns.models import Recipient, RecipientChannel, utcnow
from campaigns.planning.campaigns import get_campaign

_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$|^[^@\s<>\"]+@localhost$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")
_SIGNED_CHANNELS = (RecipientChannel.dingtalk.value, RecipientChannel.feishu.value)
# The robots' own hosts: a unit's contact is a bare URL, so its host says which robot it is.
_ROBOT_HOSTS = {
    "qyapi.weixin.qq.com": RecipientChannel.wecom,
    "oapi.dingtalk.com": RecipientChannel.dingtalk,
    "open.feishu.cn": RecipientChannel.feishu,
    "open.larksuite.com": RecipientChannel.feishu,
}


def add_recipient(
    address: str,
    *,
    session: Session,
    actor: str,
    name: str | None = None,
    campaign_id: str | None = None,
    channel: str = RecipientChannel.email,
    secret_env: str | None = None,
) -> Recipient:
    if channel not in RecipientChannel.__members__:
        raise InvalidInputError(
            f"--channel {channel!r}: expected one of {', '.join(RecipientChannel.__members__)}"
        )
    address = address.strip()
    try:
        check_header_value("recipient", address)
        if name is not None:
            check_header_value("--name", name)
    except HeaderInjectionError as exc:
        raise InvalidInputError(str(exc)) from None
    if channel == RecipientChannel.email:
        if not _EMAIL.match(address):
            raise InvalidInputError(f"recipient {address!r}: not an email address")
    else:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInputError(f"recipient: a {channel} robot needs an http(s) URL")
    if secret_env is not None:
        if not _ENV_NAME.match(secret_env):
            raise InvalidInputError(
                f"--secret-env {secret_env!r}: not an environment variable name"
            )
        if channel not in _SIGNED_CHANNELS:
            raise InvalidInputError(
                f"--secret-env: only {' and '.join(_SIGNED_CHANNELS)} robots sign their requests"
            )
    if campaign_id is not None:
        get_campaign(campaign_id, session=session)
    duplicate = session.exec(
        select(Recipient).where(
            Recipient.address == address,
            Recipient.channel == channel,
            col(Recipient.removed_at).is_(None),
            col(Recipient.unit_code).is_(None),
            Recipient.campaign_id == campaign_id
            if campaign_id is not None
            else col(Recipient.campaign_id).is_(None),
        )
    ).first()
    if duplicate is not None:
        raise ConflictError(f"recipient {_shown(duplicate)} is already on the list")
    recipient = Recipient(
        channel=channel,
        address=address,
        name=name,
        campaign_id=campaign_id,
        secret_env=secret_env,
        created_at=utcnow(),
    )
    session.add(recipient)
    session.flush()
    record_event(
        "recipient.added",
        session=session,
        actor=actor,
        campaign_id=campaign_id,
        data={"recipient": _shown(recipient), "channel": channel},
    )
    return recipient


def list_recipients(*, session: Session, campaign_id: str | None = None) -> list[Recipient]:
    """Who receives summaries (all campaigns', and `campaign_id`'s own); never a unit's contact."""
    query = (
        select(Recipient)
        .where(col(Recipient.removed_at).is_(None), col(Recipient.unit_code).is_(None))
        .order_by(col(Recipient.id))
    )
    if campaign_id is not None:
        query = query.where(
            or_(col(Recipient.campaign_id).is_(None), Recipient.campaign_id == campaign_id)
        )
    return list(session.exec(query))


def remove_recipient(address: str, *, session: Session, actor: str) -> int:
    matches = session.exec(
        select(Recipient).where(
            Recipient.address == address.strip(),
            col(Recipient.removed_at).is_(None),
            # A unit's contact is changed in the unit (`units import`), not here.
            col(Recipient.unit_code).is_(None),
        )
    ).all()
    if not matches:
        # The address may be a robot URL with its token: never echo it.
        shown = address if _EMAIL.match(address.strip()) else "with that address"
        raise NotFoundError(f"no recipient {shown} (see `campaigns recipients list`)")
    for recipient in matches:
        record_event(
            "recipient.removed",
            session=session,
            actor=actor,
            campaign_id=recipient.campaign_id,
            data={"recipient": _shown(recipient)},
        )
        # Kept, not deleted: past deliveries still name who received them.
        recipient.removed_at = utcnow()
        session.add(recipient)
    return len(matches)


def contact_channel(contact: str) -> RecipientChannel | None:
    """The channel a unit's contact means: email for an address, the robot its host names
    (WeCom, DingTalk, Feishu), a generic webhook for any other http(s) URL; None for
    anything else."""
    contact = contact.strip()
    if _EMAIL.match(contact):
        return RecipientChannel.email
    parts = urlsplit(contact)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return _ROBOT_HOSTS.get(parts.hostname.lower(), RecipientChannel.webhook)


def unit_contact(
    unit_code: str, name: str, contact: str, *, session: Session, now: datetime
) -> Recipient | None:
    """The recipient standing for a unit's contact, made on first use; None when the contact
    is neither an email address nor an http(s) URL.

    A contact changed since is a new recipient and the old one is retired, not edited:
    past deliveries still name who received them. The caller holds the unit's row lock, so
    two dispatchers reminding the same unit in two campaigns make one recipient.
    """
    channel = contact_channel(contact)
    if channel is None:
        return None
    address = contact.strip()
    current = session.exec(
        select(Recipient)
        .where(Recipient.unit_code == unit_code, col(Recipient.removed_at).is_(None))
        .order_by(col(Recipient.id))
    ).all()
    keep = None
    for recipient in current:
        if keep is None and (recipient.address, recipient.channel) == (address, channel):
            keep = recipient
            continue
        recipient.removed_at = now
        session.add(recipient)
    if keep is not None:
        if keep.name != name:
            keep.name = name
            session.add(keep)
        return keep
    recipient = Recipient(
        channel=channel, address=address, name=name, unit_code=unit_code, created_at=now
    )
    session.add(recipient)
    session.flush()
    return recipient


def _shown(recipient: Recipient) -> str:
    return shown_address(recipient.channel, recipient.address)


def shown_address(channel: str, address: str) -> str:
    """What may be printed: robot URLs carry their token (in the query, the path or the
    user part), so only the scheme, host and port are shown."""
    if channel == RecipientChannel.email:
        return address
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{channel}:{parts.scheme}://{host}{f':{port}' if port else ''}/…"
