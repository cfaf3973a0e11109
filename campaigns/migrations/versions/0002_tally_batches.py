"""tally batches (what each import/log published, which chunks the workers stored),
and an index for listing corrections

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import campaigns.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tally_batch",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("tallies", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.Column("published_at", campaigns.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tally_batch_campaign_id", "tally_batch", ["campaign_id"])
    op.create_index("ix_tally_batch_digest", "tally_batch", ["digest"])
    op.create_table(
        "tally_batch_chunk",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tallies", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("refused", sa.String(length=500), nullable=True),
        sa.Column("done_at", campaigns.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["tally_batch.id"]),
        sa.PrimaryKeyConstraint("batch_id", "seq"),
    )

    op.create_index(
        "ix_tally_corrections",
        "tally",
        ["campaign_id", "occurred_at"],
        sqlite_where=sa.text("is_correction IS 1"),
        postgresql_where=sa.text("is_correction IS true"),
    )


def downgrade() -> None:
    op.drop_index("ix_tally_corrections", table_name="tally")
    op.drop_table("tally_batch_chunk")
    op.drop_index("ix_tally_batch_digest", table_name="tally_batch")
    op.drop_index("ix_tally_batch_campaign_id", table_name="tally_batch")
    op.drop_table("tally_batch")
