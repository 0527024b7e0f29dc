"""Metrics' first tables: ticket facts, outbox, processed events.

Revision ID: 20261124_01
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from tierline_shared.migrate_ops import create_bus_tables

revision = "20261124_01"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "metrics"


def upgrade() -> None:
    op.create_table(
        "ticket_facts",
        sa.Column("ticket_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_type", sa.String(32)),
        sa.Column("channel", sa.String(16)),
        sa.Column("created_priority", sa.String(4)),
        sa.Column("created_category", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("assigned_priority", sa.String(4)),
        sa.Column("assigned_category", sa.String(64)),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.Column("queued_at", sa.DateTime(timezone=True)),
        sa.Column("first_response_due_at", sa.DateTime(timezone=True)),
        sa.Column("resolution_due_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    create_bus_tables(SCHEMA)


def downgrade() -> None:
    for table in ("ticket_facts", "outbox", "processed_events"):
        op.drop_table(table, schema=SCHEMA)
