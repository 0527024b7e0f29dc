"""Each agent's ids in the desks Tierline writes assignments back to.

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

SCHEMA = "router"


def upgrade() -> None:
    op.add_column("agents", sa.Column("desk_ids", pg.JSONB, nullable=False,
                                      server_default="{}"), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("agents", "desk_ids", schema=SCHEMA)
