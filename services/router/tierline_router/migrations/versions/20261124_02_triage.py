"""Queue entries remember whether the ticket waits for triage.

Revision ID: 20261124_02
Revises: 20261124_01
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "20261124_02"
down_revision = "20261124_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("queue", sa.Column("triage", sa.Boolean, nullable=False,
                                     server_default=sa.false()), schema="router")


def downgrade() -> None:
    op.drop_column("queue", "triage", schema="router")
