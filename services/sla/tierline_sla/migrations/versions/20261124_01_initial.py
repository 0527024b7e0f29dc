"""SLA's first tables: clocks, history, outbox, processed events.

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

SCHEMA = "sla"


def upgrade() -> None:
    op.create_table(
        "clocks",
        sa.Column("ticket_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("clock", sa.String(32), primary_key=True),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("target_seconds", sa.Integer, nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("clocks_due_idx", "clocks", ["status", "due_at"], schema=SCHEMA)
    op.create_table(
        "history",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", pg.JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("history_ticket_idx", "history", ["ticket_id", "id"], schema=SCHEMA)
    create_bus_tables(SCHEMA)


def downgrade() -> None:
    for table in ("history", "clocks", "outbox", "processed_events"):
        op.drop_table(table, schema=SCHEMA)
