"""KPI read models: the ticket event log the KPI folds run over, first response and
deflection per ticket, QA evaluations and ESAT answers.

Revision ID: 20261125_05
Revises: 20261124_04
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261125_05"
down_revision = "20261124_04"
branch_labels = None
depends_on = None

SCHEMA = "metrics"


def upgrade() -> None:
    op.add_column("ticket_facts", sa.Column("first_response_at", sa.DateTime(timezone=True)),
                  schema=SCHEMA)
    op.add_column("ticket_facts", sa.Column("deflected", sa.Boolean, nullable=False,
                                            server_default="false"), schema=SCHEMA)
    op.create_index("ix_ticket_facts_created_at", "ticket_facts", ["created_at"], schema=SCHEMA)
    op.create_index("ix_ticket_facts_resolved_at", "ticket_facts", ["resolved_at"],
                    schema=SCHEMA)
    op.create_table(
        "ticket_log",
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", pg.JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_ticket_log_ticket_id", "ticket_log", ["ticket_id"], schema=SCHEMA)
    op.create_table(
        "qa_evaluations",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("ticket_id", pg.UUID(as_uuid=True)),
        sa.Column("evaluator", sa.String(64), nullable=False),
        sa.Column("knowledge", sa.SmallInteger, nullable=False),
        sa.Column("attitude", sa.SmallInteger, nullable=False),
        sa.Column("process", sa.SmallInteger, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("knowledge BETWEEN 1 AND 5 AND attitude BETWEEN 1 AND 5 "
                           "AND process BETWEEN 1 AND 5", name="ck_qa_scores"),
        schema=SCHEMA,
    )
    op.create_index("ix_qa_evaluations_agent_id", "qa_evaluations", ["agent_id", "evaluated_at"],
                    schema=SCHEMA)
    op.create_table(
        "esat_answers",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("question", sa.String(64), nullable=False),
        sa.Column("score", sa.SmallInteger, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_esat_score"),
        schema=SCHEMA,
    )
    op.create_index("ix_esat_answers_agent_id", "esat_answers", ["agent_id", "answered_at"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("esat_answers", schema=SCHEMA)
    op.drop_table("qa_evaluations", schema=SCHEMA)
    op.drop_table("ticket_log", schema=SCHEMA)
    op.drop_index("ix_ticket_facts_resolved_at", "ticket_facts", schema=SCHEMA)
    op.drop_index("ix_ticket_facts_created_at", "ticket_facts", schema=SCHEMA)
    op.drop_column("ticket_facts", "deflected", schema=SCHEMA)
    op.drop_column("ticket_facts", "first_response_at", schema=SCHEMA)
