"""The customer and account directory.

Revision ID: 20261125_03
Revises: 20261125_02
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261125_03"
down_revision = "20261125_02"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def _profile_columns(vip_nullable: bool) -> list[sa.Column]:
    return [
        sa.Column("plan", sa.String(64)),
        sa.Column("tier", sa.String(64)),
        sa.Column("vip", sa.Boolean, nullable=vip_nullable),
        sa.Column("region", sa.String(64)),
        sa.Column("language", sa.String(16)),
        sa.Column("products", pg.JSONB, nullable=False),
        sa.Column("customer_since", sa.Date),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        *_profile_columns(vip_nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(200)),
        sa.Column("name", sa.String(200)),
        sa.Column("email", sa.String(254)),
        *_profile_columns(vip_nullable=True),
        schema=SCHEMA,
    )
    op.create_index("customers_account_idx", "customers", ["account_id"], schema=SCHEMA)
    op.create_index("customers_email_idx", "customers", ["email"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("customers", schema=SCHEMA)
    op.drop_table("accounts", schema=SCHEMA)
