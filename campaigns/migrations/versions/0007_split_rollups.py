"""split rollups: per (metric, day) and per (metric, venue) instead of per (day, venue); merge heads

Revision ID: 0007
Revises: 0003, 0004, 0005, 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0003", "0004", "0005", "0006")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tally_day_rollup",
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("metric", sa.String(length=60), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_correction", sa.Boolean(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("tallies", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "metric", "day", "is_correction"),
    )
    op.create_table(
        "tally_venue_rollup",
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("metric", sa.String(length=60), nullable=False),
        sa.Column("venue", sa.String(length=500), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("tallies", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "metric", "venue"),
    )
    op.execute(
        "INSERT INTO tally_day_rollup (campaign_id, metric, day, is_correction, total, tallies)"
        " SELECT campaign_id, metric, day, is_correction, sum(total), sum(tallies)"
        " FROM tally_rollup GROUP BY campaign_id, metric, day, is_correction"
    )
    op.execute(
        "INSERT INTO tally_venue_rollup (campaign_id, metric, venue, total, tallies)"
        " SELECT campaign_id, metric, venue, sum(total), sum(tallies)"
        " FROM tally_rollup GROUP BY campaign_id, metric, venue"
    )
    op.drop_table("tally_rollup")


def downgrade() -> None:
    # The (day, venue) cross totals cannot be rebuilt from the split ones: recount the rows.
    op.create_table(
        "tally_rollup",
        sa.Column("campaign_id", sa.String(length=80), nullable=False),
        sa.Column("metric", sa.String(length=60), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("venue", sa.String(length=500), nullable=False),
        sa.Column("is_correction", sa.Boolean(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("tallies", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "metric", "day", "venue", "is_correction"),
    )
    op.execute(
        "INSERT INTO tally_rollup (campaign_id, metric, day, venue, is_correction, total, tallies)"
        " SELECT campaign_id, metric, day, coalesce(venue, ''), is_correction, sum(quantity),"
        " count(*) FROM tally GROUP BY 1, 2, 3, 4, 5"
    )
    op.drop_table("tally_venue_rollup")
    op.drop_table("tally_day_rollup")
