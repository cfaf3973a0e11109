"""interim digests: one per campaign and local day

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-30 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import campaigns.models

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("summary_id", sa.Integer(), nullable=False),
        sa.Column("created_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["summary_id"], ["summary.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "day", name="uq_digest_day"),
        sa.UniqueConstraint("summary_id"),
    )


def downgrade() -> None:
    op.drop_table("digest")
