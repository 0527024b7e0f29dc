"""SLA facts: warnings and breaches, escalations, major incidents, problems; per-ticket
escalation counts, breaches and major incident; the update clock's due time.

Revision ID: 20261124_04
Revises: 20261124_03
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261124_04"
down_revision = "20261124_03"
branch_labels = None
depends_on = None

SCHEMA = "metrics"
COLUMNS = ("update_due_at", "escalations", "functional_escalations", "first_response_breached",
           "resolution_breached", "update_breached", "major_incident_id")


def upgrade() -> None:
    for column in (
        sa.Column("update_due_at", sa.DateTime(timezone=True)),
        sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("functional_escalations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_response_breached", sa.Boolean, nullable=False,
                  server_default="false"),
        sa.Column("resolution_breached", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("update_breached", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("major_incident_id", pg.UUID(as_uuid=True)),
    ):
        op.add_column("ticket_facts", column, schema=SCHEMA)
    op.create_index("ix_ticket_facts_major_incident_id", "ticket_facts", ["major_incident_id"],
                    schema=SCHEMA)
    op.create_table(
        "sla_events",
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("clock", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("threshold_percent", sa.SmallInteger),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "escalations",
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("clock", sa.String(16)),
        sa.Column("to_tier", sa.SmallInteger),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_escalations_ticket_id_kind", "escalations", ["ticket_id", "kind"],
                    schema=SCHEMA)
    op.create_table(
        "major_incidents",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("title", sa.Text),
        sa.Column("service", sa.Text),
        sa.Column("trigger", sa.String(8)),
        sa.Column("declared_at", sa.DateTime(timezone=True)),
        sa.Column("restored_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("ticket_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updates_due", sa.Integer, nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.create_table(
        "problems",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("reason", sa.Text),
        sa.Column("service", sa.Text),
        sa.Column("category", sa.Text),
        sa.Column("ticket_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("identified_at", sa.DateTime(timezone=True)),
        sa.Column("workaround_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("problems", "major_incidents", "escalations", "sla_events"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_index("ix_ticket_facts_major_incident_id", "ticket_facts", schema=SCHEMA)
    for column in COLUMNS:
        op.drop_column("ticket_facts", column, schema=SCHEMA)
