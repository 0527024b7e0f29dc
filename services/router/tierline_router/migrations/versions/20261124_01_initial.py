"""Router's first tables: agents, assignments, queue, outbox, processed events.

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

SCHEMA = "router"


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("tier", sa.SmallInteger, nullable=False),
        sa.Column("skills", pg.JSONB, nullable=False),
        sa.Column("channels", pg.JSONB, nullable=False),
        sa.Column("max_total", sa.Integer, nullable=False),
        sa.Column("presence", sa.String(16), nullable=False),
        sa.Column("languages", pg.JSONB, nullable=False),
        sa.Column("team", sa.Text),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "assignments",
        sa.Column("ticket_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey(f"{SCHEMA}.agents.id"),
                  nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reasons", pg.JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("assignments_agent_status_idx", "assignments", ["agent_id", "status"],
                    schema=SCHEMA)
    op.create_table(
        "queue",
        sa.Column("ticket_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("queue_order_idx", "queue", ["priority", "queued_at"], schema=SCHEMA)
    create_bus_tables(SCHEMA)


def downgrade() -> None:
    for table in ("queue", "assignments", "agents", "outbox", "processed_events"):
        op.drop_table(table, schema=SCHEMA)
