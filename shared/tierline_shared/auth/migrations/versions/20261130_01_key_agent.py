"""A key may be bound to one agent: it then answers offers and sets presence for that agent
only (the console's agent sign-in).

Revision ID: 20261130_01
Revises: 20261125_02
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_01"
down_revision = "20261125_02"
branch_labels = None
depends_on = None

SCHEMA = "auth"


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("agent_id", sa.String(64)), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("api_keys", "agent_id", schema=SCHEMA)
