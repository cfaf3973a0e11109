"""The tables: campaigns and their targets, the reporting units and who takes part, tallies
and their rollups, recipients, summaries, reminders, deliveries, and the domain-event log
that doubles as the audit trail.

Times are stored as naive UTC (`UTCDateTime` adds the zone back on the way out), so
SQLite and PostgreSQL hold the same values; local dates are derived with the campaign's
timezone at the edges.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class CampaignStatus(enum.StrEnum):
    scheduled = "scheduled"
    running = "running"
    closed = "closed"
    reported = "reported"
    cancelled = "cancelled"


class Campaign(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=80)
    kind: str = Field(max_length=60, index=True)
    year: int = Field(index=True)
    title: str = Field(max_length=200)
    start_at: datetime = utc_column()
    end_at: datetime = utc_column()
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    venue: str | None = Field(default=None, max_length=200)
    partners: str | None = Field(default=None, max_length=500)
    # How it campaigned, as the organiser wrote it (法律宣传进社区、现场咨询): the year's report
    # names them.
    activity_forms: str | None = Field(default=None, max_length=500)
    status: str = Field(default=CampaignStatus.scheduled, max_length=16, index=True)
    # The local midnight after the last day the units' reports are accepted (填报截止); unset:
    # the end itself (a campaign without participants reports at its end, as before).
    report_by: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class ReportingUnit(SQLModel, table=True):
    """A county, a department, a city: who holds activities and sends a 统计表 back.

    The code is the stable id (a county's 6-digit administrative code fits); names are what
    users type, unique among one parent's children.
    """

    __tablename__ = "reporting_unit"
    __table_args__ = (UniqueConstraint("parent_code", "name", name="uq_unit_name_in_parent"),)
    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100, index=True)
    parent_code: str | None = Field(
        default=None, foreign_key="reporting_unit.code", max_length=40, index=True
    )
    # An email address or a robot URL (its token a secret: shown redacted); reminders go here.
    contact: str | None = Field(default=None, max_length=1000)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class ReportHow(enum.StrEnum):
    submitted = "submitted"
    imported = "imported"
    waived = "waived"


class Participant(SQLModel, table=True):
    """A unit taking part in a campaign, and whether (and how) it has reported."""

    __tablename__ = "campaign_participant"
    campaign_id: str = Field(foreign_key="campaign.id", primary_key=True, max_length=80)
    unit_code: str = Field(foreign_key="reporting_unit.code", primary_key=True, max_length=40)
    added_at: datetime = utc_column()
    reported_at: datetime | None = utc_column(nullable=True)
    how: str | None = Field(default=None, max_length=16)
    # Why the organiser waived it (`how` = waived).
    reason: str | None = Field(default=None, max_length=500)


class CampaignTarget(SQLModel, table=True):
    __tablename__ = "campaign_target"
    campaign_id: str = Field(foreign_key="campaign.id", primary_key=True, max_length=80)
    metric: str = Field(primary_key=True, max_length=60)
    target: int = Field(sa_column=Column(BigInteger(), nullable=False))


class CustomMetric(SQLModel, table=True):
    __tablename__ = "custom_metric"
    id: str = Field(primary_key=True, max_length=60)
    zh: str = Field(max_length=60, unique=True)
    en: str = Field(max_length=100)
    unit_zh: str = Field(max_length=10)
    unit_en: str = Field(max_length=30)
    is_money: bool = False


class Tally(SQLModel, table=True):
    """One recorded event; a correction is a row of its own with a reason, never an edit."""

    __table_args__ = (
        UniqueConstraint("campaign_id", "key", name="uq_tally_campaign_key"),
        # Summaries list corrections; partial, so ordinary tallies cost it nothing to insert.
        Index(
            "ix_tally_corrections",
            "campaign_id",
            "occurred_at",
            sqlite_where=text("is_correction IS 1"),
            postgresql_where=text("is_correction IS true"),
        ),
    )
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    campaign_id: str = Field(foreign_key="campaign.id", max_length=80)
    metric: str = Field(max_length=60)
    quantity: int = Field(sa_column=Column(BigInteger(), nullable=False))
    item: str | None = Field(default=None, max_length=500)
    venue: str | None = Field(default=None, max_length=500)
    occurred_at: datetime = utc_column()
    # The campaign-local calendar day of occurred_at: what "by day" means to the organisers.
    day: date
    recorded_by: str | None = Field(default=None, max_length=500)
    key: str = Field(max_length=200)
    note: str | None = Field(default=None, max_length=500)
    is_correction: bool = False
    reason: str | None = Field(default=None, max_length=500)
    source: str = Field(default="cli", max_length=200)
    created_at: datetime = utc_column()
    # The reporting unit's code; None: the organiser's own bureau.
    unit: str | None = Field(default=None, max_length=40)


class DayRollup(SQLModel, table=True):
    """Running totals per metric and local day, kept in step with `tally` in the same
    transaction as each insert. Corrections are kept apart so a summary can show them."""

    __tablename__ = "tally_day_rollup"
    campaign_id: str = Field(foreign_key="campaign.id", primary_key=True, max_length=80)
    metric: str = Field(primary_key=True, max_length=60)
    day: date = Field(primary_key=True)
    is_correction: bool = Field(primary_key=True, default=False)
    total: int = Field(sa_column=Column(BigInteger(), nullable=False))
    tallies: int = Field(sa_column=Column(BigInteger(), nullable=False))


class VenueRollup(SQLModel, table=True):
    """Running totals per metric and venue ("" for none), kept like `DayRollup`.

    Two narrow rollups rather than one per (day, venue): a chunk of a county's sheet touches a
    few dozen rows of each instead of hundreds, and a summary reads them without grouping.
    """

    __tablename__ = "tally_venue_rollup"
    campaign_id: str = Field(foreign_key="campaign.id", primary_key=True, max_length=80)
    metric: str = Field(primary_key=True, max_length=60)
    venue: str = Field(primary_key=True, max_length=500, default="")
    total: int = Field(sa_column=Column(BigInteger(), nullable=False))
    tallies: int = Field(sa_column=Column(BigInteger(), nullable=False))


class UnitRollup(SQLModel, table=True):
    """Running totals per metric and reporting unit ("" for the organiser's own), kept like
    `DayRollup`; a parent's figures are its own row plus its descendants', added at read time."""

    __tablename__ = "tally_unit_rollup"
    campaign_id: str = Field(foreign_key="campaign.id", primary_key=True, max_length=80)
    metric: str = Field(primary_key=True, max_length=60)
    unit: str = Field(primary_key=True, max_length=40, default="")
    total: int = Field(sa_column=Column(BigInteger(), nullable=False))
    tallies: int = Field(sa_column=Column(BigInteger(), nullable=False))


class DomainEvent(SQLModel, table=True):
    __tablename__ = "domain_event"
    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    at: datetime = utc_column(index=True)
    actor: str = Field(max_length=200)
    kind: str = Field(max_length=60, index=True)
    campaign_id: str | None = Field(default=None, max_length=80, index=True)
    data: str = Field(default="{}", sa_column=Column(Text(), nullable=False))


class RecipientChannel(enum.StrEnum):
    email = "email"
    wecom = "wecom"
    dingtalk = "dingtalk"
    feishu = "feishu"
    webhook = "webhook"


class Recipient(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(default=RecipientChannel.email, max_length=16)
    # An email address, or a webhook URL (whose token is a secret: shown redacted).
    address: str = Field(max_length=1000)
    name: str | None = Field(default=None, max_length=200)
    # None: receives the summaries of every campaign.
    campaign_id: str | None = Field(default=None, foreign_key="campaign.id", max_length=80)
    # Name of the environment variable holding a webhook signing secret; never the secret.
    secret_env: str | None = Field(default=None, max_length=100)
    # Set: the contact of a reporting unit, who gets reminders, never summaries.
    unit_code: str | None = Field(
        default=None, foreign_key="reporting_unit.code", max_length=40, index=True
    )
    created_at: datetime = utc_column()
    removed_at: datetime | None = utc_column(nullable=True)


class Summary(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "version", name="uq_summary_version"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=80, index=True)
    version: int
    final: bool = True
    compiled_at: datetime = utc_column()
    figures: str = Field(sa_column=Column(Text(), nullable=False))
    changes: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))


class DeliveryStatus(enum.StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    retrying = "retrying"
    failed = "failed"
    unknown = "unknown"


class YearReportVersion(SQLModel, table=True):
    """A version of the year's report as sent: its text and documents, frozen when compiled.

    A new version is compiled only when the report would read differently (`fingerprint`),
    e.g. after a correction to one of the year's campaigns; `changes` says what changed.
    """

    __tablename__ = "year_report"
    __table_args__ = (UniqueConstraint("year", "version", name="uq_year_report_version"),)
    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    version: int
    fingerprint: str = Field(max_length=64)
    # JSON: the Chinese and English text of the section as sent.
    body: str = Field(sa_column=Column(Text(), nullable=False))
    changes: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    docx: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    pdf: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    compiled_at: datetime = utc_column()


class Reminder(SQLModel, table=True):
    """The reminder to a participant that has not reported, before the deadline: at most one
    per campaign and unit (the unique row decides between racing dispatchers)."""

    __table_args__ = (UniqueConstraint("campaign_id", "unit_code", name="uq_reminder_once"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=80)
    unit_code: str = Field(foreign_key="reporting_unit.code", max_length=40)
    # The deadline it announced.
    report_by: datetime = utc_column()
    created_at: datetime = utc_column()


class Delivery(SQLModel, table=True):
    """One message of a summary, a year's report or a reminder to one recipient: exactly one
    of `summary_id`, `year_report_id` and `reminder_id` is set."""

    __table_args__ = (
        UniqueConstraint("summary_id", "recipient_id", "channel", name="uq_delivery_once"),
        UniqueConstraint(
            "year_report_id", "recipient_id", "channel", name="uq_delivery_report_once"
        ),
        UniqueConstraint(
            "reminder_id", "recipient_id", "channel", name="uq_delivery_reminder_once"
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    summary_id: int | None = Field(default=None, foreign_key="summary.id", index=True)
    year_report_id: int | None = Field(default=None, foreign_key="year_report.id", index=True)
    reminder_id: int | None = Field(default=None, foreign_key="reminder.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id")
    channel: str = Field(max_length=16)
    status: str = Field(default=DeliveryStatus.queued, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = utc_column(nullable=True)
    message_id: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, max_length=1000)
    sent_at: datetime | None = utc_column(nullable=True)
    # The broker task that holds the current attempt: its redelivery knows the attempt died.
    claimed_by: str | None = Field(default=None, max_length=200)
    # Set (and committed) just before the message leaves in the current attempt, e.g. before
    # SMTP's final ".": an attempt that died after it may have delivered the message.
    data_sent_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class DeadLetter(SQLModel, table=True):
    """A task message that failed or crashed its worker too often: kept, shown, replayable."""

    __tablename__ = "dead_letter"
    id: int | None = Field(default=None, primary_key=True)
    task_id: str = Field(max_length=64, unique=True)
    task_name: str = Field(max_length=100)
    args: str = Field(sa_column=Column(Text(), nullable=False))
    error: str = Field(sa_column=Column(Text(), nullable=False))
    attempts: int
    created_at: datetime = utc_column()
    replayed_at: datetime | None = utc_column(nullable=True)


class Digest(SQLModel, table=True):
    """An evening's interim digest of a running campaign: at most one per campaign and day.

    The digest itself is a non-final `Summary` (its deliveries hang off that row); its
    version is negative (-1, -2, ...) so final summaries keep the numbers 1, 2, ...
    """

    __table_args__ = (UniqueConstraint("campaign_id", "day", name="uq_digest_day"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=80)
    # The campaign-local calendar day the digest covers.
    day: date
    summary_id: int = Field(foreign_key="summary.id", unique=True)
    created_at: datetime = utc_column()


class TallyBatch(SQLModel, table=True):
    """One publication of tallies (an import, a log, a correction) and what it must add up to.

    Written and committed by the CLI before the chunks go to the broker; each stored chunk
    leaves a `TallyBatchChunk`, so progress and a lost chunk show without reading tallies.
    """

    __tablename__ = "tally_batch"
    id: str = Field(primary_key=True, max_length=32)
    campaign_id: str = Field(foreign_key="campaign.id", max_length=80, index=True)
    source: str = Field(max_length=200)
    # BLAKE2b of the imported file's bytes: the same file imported again is recognised; for a
    # `log` without `--key`, SHA-256 of what was typed (`campaigns.tallies.repeats`).
    digest: str | None = Field(default=None, max_length=64, index=True)
    tallies: int
    chunks: int
    actor: str = Field(max_length=200)
    created_at: datetime = utc_column()
    # Unset while the chunks are being published (or if publishing failed half-way).
    published_at: datetime | None = utc_column(nullable=True)
    # The key of the one tally of a `log` or `correct` batch: a repeat of the same log
    # (`campaigns.tallies.repeats`) reuses it, so the two count once.
    tally_key: str | None = Field(default=None, max_length=200)
    # JSON list of the unit codes this batch is the report of: once its last chunk is stored,
    # they count as reported (an import for a unit, a `log --final`).
    reports_for: str | None = Field(default=None, max_length=4000)


class TallyBatchChunk(SQLModel, table=True):
    """A chunk of a batch that a worker has dealt with, written in the chunk's own transaction:
    a redelivered chunk finds it and does nothing."""

    __tablename__ = "tally_batch_chunk"
    batch_id: str = Field(foreign_key="tally_batch.id", primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    tallies: int
    # How many of the chunk's tallies were new; the others had been counted before.
    stored: int
    # Why the chunk was not stored (the campaign was cancelled or reported meanwhile).
    refused: str | None = Field(default=None, max_length=500)
    done_at: datetime = utc_column()


class TallyChunkPending(SQLModel, table=True):
    """A published chunk not yet stored, kept (compressed) until its worker stores it.

    The broker is not the record: if it loses queued chunks (a Redis without persistence
    restarted), the dispatcher's sweeper finds them here and publishes them again.
    """

    __tablename__ = "tally_chunk_pending"
    batch_id: str = Field(foreign_key="tally_batch.id", primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    # Indexed: a campaign's summary waits while any of its chunks is here.
    campaign_id: str = Field(max_length=80, index=True)
    payload: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    created_at: datetime = utc_column(index=True)
    requeued_at: datetime | None = utc_column(nullable=True)
