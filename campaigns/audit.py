"""The domain-event log: every state change, who made it and when. Also the audit trail."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from campaigns.models import DomainEvent, utcnow


def current_actor() -> str:
    """Who is acting: `CAMPAIGNS_ACTOR` when set (a shared service account names the person)."""
    actor = os.environ.get("CAMPAIGNS_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record_event(
    kind: str,
    *,
    session: Session,
    actor: str,
    campaign_id: str | None = None,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> DomainEvent:
    event = DomainEvent(
        at=at or utcnow(),
        actor=actor,
        kind=kind,
        campaign_id=campaign_id,
        data=json.dumps(dict(data or {}), ensure_ascii=False, default=str, sort_keys=True),
    )
    session.add(event)
    return event


def list_events(*, session: Session, campaign_id: str | None = None) -> list[DomainEvent]:
    query = select(DomainEvent).order_by(col(DomainEvent.id))
    if campaign_id is not None:
        query = query.where(DomainEvent.campaign_id == campaign_id)
    return list(session.exec(query))
