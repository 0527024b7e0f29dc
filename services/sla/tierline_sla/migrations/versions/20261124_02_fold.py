"""Clocks become folds over their events: the events table, elapsed time, no due time
while paused.

Revision ID: 20261124_02
Revises: 20261124_01
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261124_02"
down_revision = "20261124_01"
branch_labels = None
depends_on = None

SCHEMA = "sla"


def upgrade() -> None:
    op.create_table(
        "clock_events",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("clock", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(4)),
        schema=SCHEMA,
    )
    op.create_index("clock_events_ticket_idx", "clock_events", ["ticket_id", "clock", "at"],
                    schema=SCHEMA)
    # Existing clocks keep their start, and their stop if they have one.
    op.execute(f"""INSERT INTO {SCHEMA}.clock_events (ticket_id, clock, at, kind, priority)
                   SELECT ticket_id, clock, started_at, 'start', priority FROM {SCHEMA}.clocks""")
    op.execute(f"""INSERT INTO {SCHEMA}.clock_events (ticket_id, clock, at, kind)
                   SELECT ticket_id, clock, stopped_at, 'stop' FROM {SCHEMA}.clocks
                   WHERE stopped_at IS NOT NULL""")
    op.add_column("clocks", sa.Column("elapsed_seconds", sa.Float, nullable=False,
                                      server_default="0"), schema=SCHEMA)
    op.alter_column("clocks", "due_at", nullable=True, schema=SCHEMA)


def downgrade() -> None:
    op.execute(f"UPDATE {SCHEMA}.clocks SET due_at = started_at WHERE due_at IS NULL")
    op.alter_column("clocks", "due_at", nullable=False, schema=SCHEMA)
    op.drop_column("clocks", "elapsed_seconds", schema=SCHEMA)
    op.drop_table("clock_events", schema=SCHEMA)
