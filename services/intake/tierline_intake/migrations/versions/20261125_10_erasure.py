"""Right to erasure: one row per request (who asked, when, the pseudonym, what changed).

Revision ID: 20261125_10
Revises: 20261125_06
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "20261125_10"
down_revision = "20261125_06"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pseudonym", sa.String(64), nullable=False),
        sa.Column("subject_digests", JSONB, nullable=False),
        sa.Column("counts", JSONB, nullable=False),
        sa.Column("tickets_announced", sa.Integer, nullable=False),
        sa.Column("repeat_of", UUID(as_uuid=True)),
        schema=SCHEMA,
    )
    op.create_index("erasures_pseudonym_idx", "erasures", ["pseudonym", "requested_at"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("erasures_pseudonym_idx", "erasures", schema=SCHEMA)
    op.drop_table("erasures", schema=SCHEMA)
