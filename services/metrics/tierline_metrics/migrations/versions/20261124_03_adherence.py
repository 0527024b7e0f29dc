"""Presence log and scheduled shifts, for schedule adherence.

Revision ID: 20261124_03
Revises: 20261124_02
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "20261124_03"
down_revision = "20261124_02"
branch_labels = None
depends_on = None

SCHEMA = "metrics"


def upgrade() -> None:
    op.create_table(
        "presence_log",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("presence", sa.String(16), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "schedule_shifts",
        sa.Column("agent_id", sa.String(64), primary_key=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("schedule_shifts", schema=SCHEMA)
    op.drop_table("presence_log", schema=SCHEMA)
