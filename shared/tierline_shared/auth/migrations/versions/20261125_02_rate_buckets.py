"""Rate-limit buckets shared by every process, one row per key (unlogged: a crash that
empties them only gives each key a fresh burst).

Revision ID: 20261125_02
Revises: 20261125_01
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "20261125_02"
down_revision = "20261125_01"
branch_labels = None
depends_on = None

SCHEMA = "auth"


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key_id", sa.String(12), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        schema=SCHEMA,
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("rate_buckets", schema=SCHEMA)
