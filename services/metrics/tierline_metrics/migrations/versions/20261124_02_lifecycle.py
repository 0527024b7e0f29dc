"""Lifecycle facts: status, resolution and closure times, reopens, survey answers.

Revision ID: 20261124_02
Revises: 20261124_01
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "20261124_02"
down_revision = "20261124_01"
branch_labels = None
depends_on = None

SCHEMA = "metrics"
COLUMNS = ("status", "resolved_at", "closed_at", "closed_by", "reopen_count", "csat", "nps")


def upgrade() -> None:
    for column in (
        sa.Column("status", sa.String(32)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by", sa.String(32)),
        sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("csat", sa.SmallInteger),
        sa.Column("nps", sa.SmallInteger),
    ):
        op.add_column("ticket_facts", column, schema=SCHEMA)


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_column("ticket_facts", column, schema=SCHEMA)
