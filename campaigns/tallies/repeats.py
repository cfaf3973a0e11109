"""Repeats of a logged tally: the same `log` typed again because the first seemed to fail.

A `log` or `correct` without `--key` is described by a digest of what was typed (campaign,
metric, quantity, item, venue, recorder, note, correction and reason, the `--at` text, and
the unit when one is given, so a log without one keeps the digest it always had). The
digest is kept on the tally's batch together with the tally's key; the same digest from the
same campaign within the repeat window means the same tally again, so the new one reuses the
earlier key and the `(campaign_id, key)` constraint counts the two once, whether or not a
worker has stored the first yet. `--new` skips the check; an explicit `--key` is never part of
it, neither as the one looking nor as the one found.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from campaigns.models import TallyBatch, utcnow
from campaigns.tallies.encoding import NewTally

# The batch source of every tally published by `log` or `correct`: only those are repeats.
LOG_SOURCE = "cli-log"
# Bumped if what the digest covers ever changes, so old and new digests never meet.
_DIGEST_VERSION = "campaigns-log-1"


def log_digest(campaign_id: str, tally: NewTally, *, at: str | None) -> str:
    """SHA-256 (hex) of what the user typed: the tally without its key and time, and the raw
    `--at` text ("" when not given), so a log dated "now" is the same log a minute later."""
    described = [
        _DIGEST_VERSION,
        campaign_id,
        tally.metric,
        tally.quantity,
        tally.item,
        tally.venue,
        tally.recorded_by,
        tally.note,
        tally.is_correction,
        tally.reason,
        at or "",
    ]
    if tally.unit is not None:
        described.append(tally.unit)
    # JSON keeps None apart from "" and every field apart from its neighbours.
    text = json.dumps(described, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def earlier_log(
    campaign_id: str,
    digest: str,
    *,
    session: Session,
    window_seconds: float,
    now: datetime | None = None,
) -> TallyBatch | None:
    """The most recent logged batch of the campaign with this digest and a tally key, created
    within the window (none when the window is 0)."""
    if window_seconds <= 0:
        return None
    since = (now or utcnow()) - timedelta(seconds=window_seconds)
    return session.exec(
        select(TallyBatch)
        .where(
            TallyBatch.campaign_id == campaign_id,
            TallyBatch.digest == digest,
            TallyBatch.source == LOG_SOURCE,
            col(TallyBatch.tally_key).is_not(None),
            TallyBatch.created_at >= since,
        )
        .order_by(col(TallyBatch.created_at).desc())
        .limit(1)
    ).first()


@dataclass(frozen=True, slots=True)
class KeyedLog:
    """A logged tally with its key decided: what to publish and what to record on its batch."""

    tally: NewTally
    # Kept on the batch so that a later repeat finds it; None for an explicit `--key`.
    digest: str | None
    # The earlier log whose key this one reuses, if it is a repeat.
    repeat_of: TallyBatch | None


def key_log(
    campaign_id: str,
    tally: NewTally,
    *,
    session: Session,
    at: str | None,
    explicit_key: str | None,
    new: bool,
    window_seconds: float,
    now: datetime | None = None,
) -> KeyedLog:
    """Decide the key of a logged tally: the explicit one; else, unless `new`, the key of the
    same log made within the window; else a fresh one."""
    if explicit_key is not None:
        return KeyedLog(replace(tally, key=explicit_key), None, None)
    digest = log_digest(campaign_id, tally, at=at)
    earlier = (
        None
        if new
        else earlier_log(
            campaign_id, digest, session=session, window_seconds=window_seconds, now=now
        )
    )
    key = earlier.tally_key if earlier is not None and earlier.tally_key else uuid.uuid4().hex
    return KeyedLog(replace(tally, key=key), digest, earlier)
