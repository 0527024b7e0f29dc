"""Adapters for ServiceNow, Jira and Zendesk: external tickets and their external status.

Revision ID: 20261125_01
Revises: 20261124_02
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261125_01"
down_revision = "20261124_02"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("external_status", sa.String(200)), schema=SCHEMA)
    op.create_table(
        "external_tickets",
        sa.Column("system", sa.String(32), primary_key=True),
        sa.Column("external_id", sa.String(200), primary_key=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("external_status", sa.String(200), nullable=False),
        sa.Column("status_mapped", sa.Boolean, nullable=False),
        sa.Column("external_updated_at", sa.DateTime(timezone=True)),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("external_tickets_ticket_idx", "external_tickets", ["ticket_id"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("external_tickets", schema=SCHEMA)
    op.drop_column("tickets", "external_status", schema=SCHEMA)
