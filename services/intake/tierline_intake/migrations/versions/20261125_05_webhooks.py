"""Outbound webhooks: subscriptions and their deliveries (the delivery log).

Revision ID: 20261125_05
Revises: 20261125_04
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261125_05"
down_revision = "20261125_04"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("events", pg.JSONB, nullable=False),
        sa.Column("system", sa.String(32)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("max_attempts", sa.SmallInteger, nullable=False),
        sa.Column("backoff_s", sa.Float, nullable=False),
        sa.Column("timeout_s", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("subscription_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("ticket_id", pg.UUID(as_uuid=True)),
        sa.Column("payload", pg.JSONB, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.SmallInteger, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status_code", sa.SmallInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("log", pg.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("subscription_id", "event_id", name="webhook_deliveries_once"),
        schema=SCHEMA,
    )
    op.create_index("webhook_deliveries_due_idx", "webhook_deliveries",
                    ["status", "next_attempt_at"], schema=SCHEMA)
    op.create_index("webhook_deliveries_subscription_idx", "webhook_deliveries",
                    ["subscription_id", "created_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("webhook_deliveries", schema=SCHEMA)
    op.drop_table("webhook_subscriptions", schema=SCHEMA)
