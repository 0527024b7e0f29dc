"""Timers, escalations, major incidents and problems; clocks remember their profile and
cycle; what sla knows of each ticket.

Revision ID: 20261124_03
Revises: 20261124_02
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261124_03"
down_revision = "20261124_02"
branch_labels = None
depends_on = None

SCHEMA = "sla"


def upgrade() -> None:
    op.add_column("clocks", sa.Column("profile", sa.String(64), nullable=False,
                                      server_default="default"), schema=SCHEMA)
    op.add_column("clocks", sa.Column("cycle", sa.Integer, nullable=False, server_default="0"),
                  schema=SCHEMA)
    op.create_table(
        "tickets",
        sa.Column("ticket_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_type", sa.String(32), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("requester_id", sa.String(200), nullable=False),
        sa.Column("plan", sa.String(64)),
        sa.Column("service", sa.String(200)),
        sa.Column("configuration_item", sa.String(200)),
        sa.Column("business_critical", sa.Boolean, nullable=False),
        sa.Column("affected_scope", sa.String(32)),
        sa.Column("workaround_available", sa.Boolean),
        sa.Column("compliance_exposure", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("tier", sa.Integer, nullable=False, server_default="0"),
        sa.Column("agent_id", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reassignments", sa.Integer, nullable=False, server_default="0"),
        sa.Column("interactions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reopens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("negative_messages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("worst_sentiment", sa.Float, nullable=False, server_default="0"),
        sa.Column("major_incident_id", pg.UUID(as_uuid=True)),
        sa.Column("problem_id", pg.UUID(as_uuid=True)),
        schema=SCHEMA,
    )
    op.create_index("sla_tickets_created_idx", "tickets", ["created_at"], schema=SCHEMA)
    op.create_index("sla_tickets_requester_idx", "tickets",
                    ["requester_id", "category", "created_at"], schema=SCHEMA)
    op.create_table(
        "timers",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("clock", sa.String(32), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("target_seconds", sa.Integer, nullable=False),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("ticket_id", "clock", "cycle", "threshold", "target_seconds",
                            name="timers_once"),
        schema=SCHEMA,
    )
    op.create_index("timers_due_idx", "timers", ["due_at"], schema=SCHEMA,
                    postgresql_where=sa.text("fired_at IS NULL"))
    op.create_table(
        "escalations",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("ticket_id", "kind", "level", name="escalations_level_once"),
        schema=SCHEMA,
    )
    op.create_index("escalations_ticket_idx", "escalations", ["ticket_id"], schema=SCHEMA)
    op.create_table(
        "major_incidents",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("key", sa.String(300)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("service", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(8), nullable=False),
        sa.Column("rule", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("declared_by", sa.String(200), nullable=False),
        sa.Column("incident_manager", sa.String(200)),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("last_update_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update_at", sa.DateTime(timezone=True)),
        sa.Column("updates_due", sa.Integer, nullable=False, server_default="0"),
        sa.Column("root_cause", sa.Text),
        sa.Column("action_items", pg.JSONB, nullable=False, server_default="[]"),
        sa.Column("log", pg.JSONB, nullable=False, server_default="[]"),
        schema=SCHEMA,
    )
    op.create_index("major_incidents_open_key", "major_incidents", ["key"], unique=True,
                    schema=SCHEMA,
                    postgresql_where=sa.text("status = 'declared' AND key IS NOT NULL"))
    op.create_index("major_incidents_update_idx", "major_incidents", ["next_update_at"],
                    schema=SCHEMA, postgresql_where=sa.text("next_update_at IS NOT NULL"))
    op.create_table(
        "problems",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("basis", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("service", sa.String(200)),
        sa.Column("category", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ticket_ids", pg.JSONB, nullable=False),
        sa.Column("workaround", sa.Text),
        sa.Column("identified_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("problems_open_key", "problems", ["key"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    for table in ("problems", "major_incidents", "escalations", "timers", "tickets"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_column("clocks", "cycle", schema=SCHEMA)
    op.drop_column("clocks", "profile", schema=SCHEMA)
