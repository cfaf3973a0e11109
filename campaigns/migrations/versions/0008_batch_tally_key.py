"""tally batch: the key of a logged tally, so a repeat of the same log reuses it

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Earlier batches keep NULL: a log made before the upgrade is not looked up as a repeat.
    with op.batch_alter_table("tally_batch") as batch:
        batch.add_column(sa.Column("tally_key", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tally_batch") as batch:
        batch.drop_column("tally_key")
