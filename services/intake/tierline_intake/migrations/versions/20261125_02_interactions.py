"""Chat and IVR interactions, repeat contacts and deflection on tickets.

Revision ID: 20261125_02
Revises: 20261125_01
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261125_02"
down_revision = "20261125_01"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("tickets", sa.Column("repeat_contacts", sa.Integer, nullable=False,
                                       server_default="0"), schema=SCHEMA)
    op.add_column("tickets", sa.Column("deflected", sa.Boolean, nullable=False,
                                       server_default=sa.false()), schema=SCHEMA)
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("customer_name", sa.String(200)),
        sa.Column("ticket_id", pg.UUID(as_uuid=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("about", sa.Text),
        sa.Column("transferred_from", sa.String(200)),
        sa.Column("repeat", sa.Boolean, nullable=False),
        sa.Column("deflected", sa.Boolean, nullable=False),
        sa.Column("self_service_outcome", sa.String(16)),
        sa.Column("article_id", pg.UUID(as_uuid=True)),
        sa.Column("csat", sa.SmallInteger),
        sa.Column("suggestions", pg.JSONB, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("interactions_ticket_idx", "interactions", ["ticket_id"], schema=SCHEMA)
    op.create_index("interactions_customer_idx", "interactions", ["customer_id", "started_at"],
                    schema=SCHEMA)
    op.create_table(
        "interaction_events",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("interaction_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", pg.JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("interaction_events_interaction_idx", "interaction_events",
                    ["interaction_id", "id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("interaction_events", schema=SCHEMA)
    op.drop_table("interactions", schema=SCHEMA)
    op.drop_column("tickets", "deflected", schema=SCHEMA)
    op.drop_column("tickets", "repeat_contacts", schema=SCHEMA)
