"""Lifecycle and full context: reasons, status times, history, idempotency for every POST.

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

SCHEMA = "intake"


def upgrade() -> None:
    op.alter_column("tickets", "explanation", new_column_name="reasons", schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.tickets SET reasons = '[]'::jsonb "
               "WHERE jsonb_typeof(reasons) <> 'array'")
    for column in (
        sa.Column("category_confidence", sa.Float, nullable=False, server_default="1"),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_by", sa.String(32)),
        sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("csat", sa.SmallInteger),
        sa.Column("nps", sa.SmallInteger),
    ):
        op.add_column("tickets", column, schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.tickets SET updated_at = created_at")
    op.alter_column("tickets", "updated_at", nullable=False, schema=SCHEMA)
    op.create_index("tickets_resolved_idx", "tickets", ["status", "resolved_at"], schema=SCHEMA)

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("scope", sa.String(300), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.SmallInteger, nullable=False),
        sa.Column("response", pg.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    # Keys recorded by the first revision keep answering with their ticket.
    op.execute(f"""
        INSERT INTO {SCHEMA}.idempotency_keys
            (key, scope, request_hash, status_code, response, created_at)
        SELECT idempotency_key, 'POST /v1/tickets', request_hash, 201,
               jsonb_build_object('id', id), created_at
        FROM {SCHEMA}.tickets WHERE idempotency_key IS NOT NULL
    """)
    op.drop_constraint("tickets_idempotency_key_key", "tickets", schema=SCHEMA)
    op.drop_column("tickets", "idempotency_key", schema=SCHEMA)
    op.drop_column("tickets", "request_hash", schema=SCHEMA)

    op.create_table(
        "ticket_history",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", pg.JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ticket_history_ticket_idx", "ticket_history", ["ticket_id", "id"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("ticket_history", schema=SCHEMA)
    op.add_column("tickets", sa.Column("idempotency_key", sa.String(200)), schema=SCHEMA)
    op.add_column("tickets", sa.Column("request_hash", sa.String(64)), schema=SCHEMA)
    op.create_unique_constraint("tickets_idempotency_key_key", "tickets", ["idempotency_key"],
                                schema=SCHEMA)
    op.drop_table("idempotency_keys", schema=SCHEMA)
    op.drop_index("tickets_resolved_idx", "tickets", schema=SCHEMA)
    for column in ("category_confidence", "updated_at", "resolved_at", "closed_at",
                   "closed_by", "reopen_count", "csat", "nps"):
        op.drop_column("tickets", column, schema=SCHEMA)
    op.alter_column("tickets", "reasons", new_column_name="explanation", schema=SCHEMA)
