"""Knowledge-base articles; the agent and tier holding each ticket (for article proposals).

Revision ID: 20261125_04
Revises: 20261125_03
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261125_04"
down_revision = "20261125_03"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("assigned_agent", sa.String(200)), schema=SCHEMA)
    op.add_column("tickets", sa.Column("assigned_tier", sa.SmallInteger), schema=SCHEMA)
    op.create_table(
        "kb_articles",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_ticket_id", pg.UUID(as_uuid=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("kb_articles_status_idx", "kb_articles", ["status", "last_reviewed_at"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("kb_articles", schema=SCHEMA)
    op.drop_column("tickets", "assigned_tier", schema=SCHEMA)
    op.drop_column("tickets", "assigned_agent", schema=SCHEMA)
