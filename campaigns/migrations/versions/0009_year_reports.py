"""year reports: versions of the year's report, their deliveries; a campaign's activity forms

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import campaigns.models

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "year_report",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=True),
        sa.Column("docx", sa.LargeBinary(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("compiled_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("year", "version", name="uq_year_report_version"),
    )
    op.create_index("ix_year_report_year", "year_report", ["year"])
    with op.batch_alter_table("delivery") as batch:
        batch.alter_column("summary_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("year_report_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_delivery_year_report", "year_report", ["year_report_id"], ["id"]
        )
        batch.create_index("ix_delivery_year_report_id", ["year_report_id"])
        batch.create_unique_constraint(
            "uq_delivery_report_once", ["year_report_id", "recipient_id", "channel"]
        )
    # Not in batch mode: recreating `campaign` on SQLite would fail on the rows that refer to it.
    op.add_column("campaign", sa.Column("activity_forms", sa.String(length=500), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE campaign DROP COLUMN activity_forms")  # SQLite 3.35+, PostgreSQL
    op.execute("DELETE FROM delivery WHERE year_report_id IS NOT NULL")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint("uq_delivery_report_once", type_="unique")
        batch.drop_index("ix_delivery_year_report_id")
        batch.drop_constraint("fk_delivery_year_report", type_="foreignkey")
        batch.drop_column("year_report_id")
        batch.alter_column("summary_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_year_report_year", table_name="year_report")
    op.drop_table("year_report")
