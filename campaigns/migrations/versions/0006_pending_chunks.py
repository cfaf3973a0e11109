"""pending chunks: published tally chunks kept until stored, for the sweeper

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import campaigns.models

revision: str = "0006"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tally_chunk_pending",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("requeued_at", campaigns.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["tally_batch.id"]),
        sa.PrimaryKeyConstraint("batch_id", "seq"),
    )
    op.create_index("ix_tally_chunk_pending_created_at", "tally_chunk_pending", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_tally_chunk_pending_created_at", table_name="tally_chunk_pending")
    op.drop_table("tally_chunk_pending")
