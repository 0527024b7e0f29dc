"""Intake's first tables: tickets, outbox, processed events.

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

SCHEMA = "intake"


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("requester", pg.JSONB, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("impact", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("subcategory", sa.String(64)),
        sa.Column("needs_triage", sa.Boolean, nullable=False),
        sa.Column("explanation", pg.JSONB, nullable=False),
        sa.Column("context", pg.JSONB, nullable=False),
        sa.Column("external_system", sa.String(64)),
        sa.Column("external_id", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("request_hash", sa.String(64)),
        sa.UniqueConstraint("idempotency_key", name="tickets_idempotency_key_key"),
        schema=SCHEMA,
    )
    op.create_index("tickets_created_at_idx", "tickets", ["created_at"], schema=SCHEMA)
    create_bus_tables(SCHEMA)


def downgrade() -> None:
    op.drop_table("tickets", schema=SCHEMA)
    op.drop_table("outbox", schema=SCHEMA)
    op.drop_table("processed_events", schema=SCHEMA)
