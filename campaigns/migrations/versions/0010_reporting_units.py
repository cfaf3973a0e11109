"""reporting units: the hierarchy, participants, a report-by deadline, tallies by unit,
reminders

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import campaigns.models

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = campaigns.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "reporting_unit",
        sa.Column("code", sa.String(length=40), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "parent_code", sa.String(length=40), sa.ForeignKey("reporting_unit.code"), nullable=True
        ),
        sa.Column("contact", sa.String(length=1000), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.UniqueConstraint("parent_code", "name", name="uq_unit_name_in_parent"),
    )
    op.create_index("ix_reporting_unit_name", "reporting_unit", ["name"])
    op.create_index("ix_reporting_unit_parent_code", "reporting_unit", ["parent_code"])
    op.create_table(
        "campaign_participant",
        sa.Column(
            "campaign_id", sa.String(length=80), sa.ForeignKey("campaign.id"), primary_key=True
        ),
        sa.Column(
            "unit_code",
            sa.String(length=40),
            sa.ForeignKey("reporting_unit.code"),
            primary_key=True,
        ),
        sa.Column("added_at", UTC(), nullable=False),
        sa.Column("reported_at", UTC(), nullable=True),
        sa.Column("how", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
    )
    op.create_table(
        "tally_unit_rollup",
        sa.Column(
            "campaign_id", sa.String(length=80), sa.ForeignKey("campaign.id"), primary_key=True
        ),
        sa.Column("metric", sa.String(length=60), primary_key=True),
        sa.Column("unit", sa.String(length=40), primary_key=True),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("tallies", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id", sa.String(length=80), sa.ForeignKey("campaign.id"), nullable=False
        ),
        sa.Column(
            "unit_code", sa.String(length=40), sa.ForeignKey("reporting_unit.code"), nullable=False
        ),
        sa.Column("report_by", UTC(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.UniqueConstraint("campaign_id", "unit_code", name="uq_reminder_once"),
    )
    # Not in batch mode where a table is referred to (campaign, tally): recreating it on
    # SQLite would fail on the rows that refer to it. Plain ADD COLUMN suffices there.
    op.add_column("campaign", sa.Column("report_by", UTC(), nullable=True))
    # Every tally so far is the organiser's own: no unit, all in the '' rollup row.
    op.add_column("tally", sa.Column("unit", sa.String(length=40), nullable=True))
    op.execute(
        "INSERT INTO tally_unit_rollup (campaign_id, metric, unit, total, tallies)"
        " SELECT campaign_id, metric, '', sum(total), sum(tallies) FROM tally_day_rollup"
        " GROUP BY campaign_id, metric"
    )
    op.add_column("tally_batch", sa.Column("reports_for", sa.String(length=4000), nullable=True))
    op.create_index("ix_tally_chunk_pending_campaign_id", "tally_chunk_pending", ["campaign_id"])
    with op.batch_alter_table("recipient") as batch:
        batch.add_column(sa.Column("unit_code", sa.String(length=40), nullable=True))
        batch.create_foreign_key("fk_recipient_unit", "reporting_unit", ["unit_code"], ["code"])
        batch.create_index("ix_recipient_unit_code", ["unit_code"])
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("reminder_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_delivery_reminder", "reminder", ["reminder_id"], ["id"])
        batch.create_index("ix_delivery_reminder_id", ["reminder_id"])
        batch.create_unique_constraint(
            "uq_delivery_reminder_once", ["reminder_id", "recipient_id", "channel"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM delivery WHERE reminder_id IS NOT NULL")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint("uq_delivery_reminder_once", type_="unique")
        batch.drop_index("ix_delivery_reminder_id")
        batch.drop_constraint("fk_delivery_reminder", type_="foreignkey")
        batch.drop_column("reminder_id")
    op.execute("DELETE FROM recipient WHERE unit_code IS NOT NULL")
    with op.batch_alter_table("recipient") as batch:
        batch.drop_index("ix_recipient_unit_code")
        batch.drop_constraint("fk_recipient_unit", type_="foreignkey")
        batch.drop_column("unit_code")
    op.drop_index("ix_tally_chunk_pending_campaign_id", table_name="tally_chunk_pending")
    # SQLite 3.35+ and PostgreSQL drop a column in place.
    op.execute("ALTER TABLE tally_batch DROP COLUMN reports_for")
    op.execute("ALTER TABLE tally DROP COLUMN unit")
    op.execute("ALTER TABLE campaign DROP COLUMN report_by")
    op.drop_table("reminder")
    op.drop_table("tally_unit_rollup")
    op.drop_table("campaign_participant")
    op.drop_index("ix_reporting_unit_parent_code", table_name="reporting_unit")
    op.drop_index("ix_reporting_unit_name", table_name="reporting_unit")
    op.drop_table("reporting_unit")
