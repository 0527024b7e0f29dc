"""Desk connections (credentials encrypted at rest), assignment write-backs with their log,
signed webhooks seen (against replays), a sealed Authorization header per webhook
subscription, and which connection and desk assignee each external
ticket has.

Revision ID: 20261130_01
Revises: 20261125_11
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261130_01"
down_revision = "20261125_11"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("webhook_subscriptions", sa.Column("authorization", sa.Text), schema=SCHEMA)
    op.add_column("external_tickets", sa.Column("connection_id", pg.UUID(as_uuid=True)),
                  schema=SCHEMA)
    op.add_column("external_tickets", sa.Column("external_assignee", sa.String(200)),
                  schema=SCHEMA)
    op.create_table(
        "desk_connections",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("system", sa.String(16), nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("auth", sa.String(16), nullable=False),
        sa.Column("credentials", sa.Text, nullable=False),
        sa.Column("inbound_secret", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("max_attempts", sa.SmallInteger, nullable=False),
        sa.Column("backoff_s", sa.Float, nullable=False),
        sa.Column("timeout_s", sa.Float, nullable=False),
        sa.Column("circuit_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("circuit_open_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA)
    op.create_table(
        "desk_writebacks",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("connection_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("target", pg.JSONB, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.SmallInteger, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("steps_done", pg.JSONB, nullable=False),
        sa.Column("last_status_code", sa.SmallInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("log", pg.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("connection_id", "event_id", name="desk_writebacks_once"),
        schema=SCHEMA)
    op.create_index("desk_writebacks_due_idx", "desk_writebacks", ["status", "next_attempt_at"],
                    schema=SCHEMA)
    op.create_index("desk_writebacks_ticket_idx", "desk_writebacks",
                    ["ticket_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "inbound_signatures",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("connection_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA)
    op.create_index("inbound_signatures_seen_idx", "inbound_signatures", ["seen_at"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("webhook_subscriptions", "authorization", schema=SCHEMA)
    op.drop_table("inbound_signatures", schema=SCHEMA)
    op.drop_table("desk_writebacks", schema=SCHEMA)
    op.drop_table("desk_connections", schema=SCHEMA)
    op.drop_column("external_tickets", "external_assignee", schema=SCHEMA)
    op.drop_column("external_tickets", "connection_id", schema=SCHEMA)
