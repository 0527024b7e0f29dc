"""Migration operations that every service's first revision shares."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg


def create_bus_tables(schema: str) -> None:
    """The outbox and processed-events tables, matching :func:`tierline_shared.db.bus_tables`."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("headers", pg.JSONB, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=schema,
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        schema=schema,
    )


def create_audit_table(schema: str) -> None:
    """The audit log, matching :func:`tierline_shared.audit.audit_table`."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.Text, nullable=False),
        sa.Column("actor_key_id", sa.String(64)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changes", pg.JSONB, nullable=False),
        schema=schema,
    )
    op.create_index("audit_log_entity_idx", "audit_log", ["entity_type", "entity_id", "id"],
                    schema=schema)
