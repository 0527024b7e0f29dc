"""Voice-of-the-customer signals.

Revision ID: 20261125_06
Revises: 20261125_05
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261125_06"
down_revision = "20261125_05"
branch_labels = None
depends_on = None

SCHEMA = "metrics"


def upgrade() -> None:
    op.create_table(
        "voc_signals",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("observed", sa.Integer, nullable=False),
        sa.Column("expected", sa.Float, nullable=False),
        sa.Column("p_value", sa.Float, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "dimension", "key", "day",
                            name="uq_voc_signals_kind_key_day"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("voc_signals", schema=SCHEMA)
