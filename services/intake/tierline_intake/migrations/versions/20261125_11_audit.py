"""An audit log: who changed what on each ticket, written with the change.

Revision ID: 20261125_11
Revises: 20261125_10
Create Date: 2026-11-25
"""

from alembic import op

from tierline_shared.migrate_ops import create_audit_table

revision = "20261125_11"
down_revision = "20261125_10"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    create_audit_table(SCHEMA)


def downgrade() -> None:
    op.drop_table("audit_log", schema=SCHEMA)
