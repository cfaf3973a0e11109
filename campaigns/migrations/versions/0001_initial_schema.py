"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-30 04:49:35.987490
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import campaigns.models

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "campaign",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("start_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("end_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("venue", sa.String(length=200), nullable=True),
        sa.Column("partners", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_year"), ["year"], unique=False)

    op.create_table(
        "custom_metric",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("zh", sa.String(length=60), nullable=False),
        sa.Column("en", sa.String(length=100), nullable=False),
        sa.Column("unit_zh", sa.String(length=10), nullable=False),
        sa.Column("unit_en", sa.String(length=30), nullable=False),
        sa.Column("is_money", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("zh"),
    )
    op.create_table(
        "domain_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("campaign_id", sa.String(length=80), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("domain_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_domain_event_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_domain_event_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_domain_event_kind"), ["kind"], unique=False)

    op.create_table(
        "campaign_target",
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("metric", sa.String(length=60), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("campaign_id", "metric"),
    )
    op.create_table(
        "recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("campaign_id", sa.String(length=80), nullable=True),
        sa.Column("secret_env", sa.String(length=100), nullable=True),
        sa.Column("created_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("removed_at", campaigns.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "summary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("compiled_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "version", name="uq_summary_version"),
    )
    with op.batch_alter_table("summary", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_summary_campaign_id"), ["campaign_id"], unique=False)

    op.create_table(
        "tally",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("metric", sa.String(length=60), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("item", sa.String(length=500), nullable=True),
        sa.Column("venue", sa.String(length=500), nullable=True),
        sa.Column("occurred_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=500), nullable=True),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("is_correction", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "key", name="uq_tally_campaign_key"),
    )
    op.create_table(
        "tally_rollup",
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("metric", sa.String(length=60), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("venue", sa.String(length=500), nullable=False),
        sa.Column("is_correction", sa.Boolean(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("tallies", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("campaign_id", "metric", "day", "venue", "is_correction"),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("summary_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", campaigns.models.UTCDateTime(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("sent_at", campaigns.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["summary_id"],
            ["summary.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("summary_id", "recipient_id", "channel", name="uq_delivery_once"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_summary_id"), ["summary_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_summary_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_status"))

    op.drop_table("delivery")
    op.drop_table("tally_rollup")
    op.drop_table("tally")
    with op.batch_alter_table("summary", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_summary_campaign_id"))

    op.drop_table("summary")
    op.drop_table("recipient")
    op.drop_table("campaign_target")
    with op.batch_alter_table("domain_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domain_event_kind"))
        batch_op.drop_index(batch_op.f("ix_domain_event_campaign_id"))
        batch_op.drop_index(batch_op.f("ix_domain_event_at"))

    op.drop_table("domain_event")
    op.drop_table("custom_metric")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_year"))
        batch_op.drop_index(batch_op.f("ix_campaign_status"))
        batch_op.drop_index(batch_op.f("ix_campaign_kind"))

    op.drop_table("campaign")
