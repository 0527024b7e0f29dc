"""Index tickets by requester: enrichment and repeat-contact matching look them up.

Revision ID: 20261125_06
Revises: 20261125_05
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "20261125_06"
down_revision = "20261125_05"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.create_index("tickets_requester_idx", "tickets",
                    [sa.text("(requester ->> 'id')"), "created_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("tickets_requester_idx", "tickets", schema=SCHEMA)
