"""Quarantined task messages: what could not be processed is kept, listed and replayable,
never silently dropped (a tally chunk in here is not counted until it is replayed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from campaigns.audit import record_event
from campaigns.errors import ConflictError, NotFoundError
from campaigns.models import DeadLetter, utcnow


def quarantine(
    *,
    session: Session,
    task_id: str,
    task_name: str,
    args: Sequence[Any],
    error: str,
    attempts: int,
    now: datetime | None = None,
) -> None:
    """Keep the message; a second quarantine of the same task id changes nothing."""
    values = {
        "task_id": task_id,
        "task_name": task_name,
        "args": json.dumps(list(args), ensure_ascii=False),
        "error": error[:2000],
        "attempts": attempts,
        "created_at": now or utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = session.execute(
        insert(DeadLetter).values(**values).on_conflict_do_nothing(index_elements=["task_id"])
    )
    if result.rowcount:  # type: ignore[attr-defined]
        record_event(
            "task.quarantined",
            session=session,
            actor="worker",
            data={
                "task": task_name,
                "task_id": task_id,
                "attempts": attempts,
                "error": error[:200],
            },
        )


def list_dead_letters(*, session: Session, include_replayed: bool = False) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(col(DeadLetter.id))
    if not include_replayed:
        query = query.where(col(DeadLetter.replayed_at).is_(None))
    return list(session.exec(query))


def take_for_replay(dead_letter_id: int, *, session: Session, actor: str) -> DeadLetter:
    """Mark it replayed (the caller publishes it again after commit)."""
    letter = session.exec(
        select(DeadLetter).where(DeadLetter.id == dead_letter_id).with_for_update()
    ).first()
    if letter is None:
        raise NotFoundError(f"unknown dead letter {dead_letter_id} (see `campaigns dead-letters`)")
    if letter.replayed_at is not None:
        raise ConflictError(f"dead letter {dead_letter_id} was replayed already")
    letter.replayed_at = utcnow()
    session.add(letter)
    record_event(
        "task.replayed",
        session=session,
        actor=actor,
        data={"dead_letter": dead_letter_id, "task": letter.task_name},
    )
    return letter
