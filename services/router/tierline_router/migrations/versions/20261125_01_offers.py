"""Offers, routing rules and a queue that drains by index: agents carry their live load,
languages, manager, timezone and working hours; router keeps its own view of each ticket;
assignments are offered before they are accepted; every routing step is history; queued
work carries its need, aging rank and SLA due time.

Revision ID: 20261125_01
Revises: 20261124_02
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "20261125_01"
down_revision = "20261124_02"
branch_labels = None
depends_on = None

SCHEMA = "router"


def upgrade() -> None:
    op.add_column("agents", sa.Column("manager", sa.Text), schema=SCHEMA)
    op.add_column("agents", sa.Column("timezone", sa.String(64), nullable=False,
                                      server_default="UTC"), schema=SCHEMA)
    op.add_column("agents", sa.Column("working_hours", pg.JSONB), schema=SCHEMA)
    op.add_column("agents", sa.Column("active_by_channel", pg.JSONB, nullable=False,
                                      server_default="{}"), schema=SCHEMA)
    op.add_column("agents", sa.Column("active_total", sa.Integer, nullable=False,
                                      server_default="0"), schema=SCHEMA)
    op.create_index("agents_skills_idx", "agents", ["skills"], schema=SCHEMA,
                    postgresql_using="gin")
    op.create_index("agents_presence_tier_idx", "agents", ["presence", "tier"], schema=SCHEMA)
    op.execute("""
        UPDATE router.agents a SET
          active_by_channel = coalesce((SELECT jsonb_object_agg(channel, n) FROM (
              SELECT channel, count(*) AS n FROM router.assignments
              WHERE agent_id = a.id AND status = 'active' GROUP BY channel) c), '{}'),
          active_total = (SELECT count(*) FROM router.assignments
                          WHERE agent_id = a.id AND status = 'active')
    """)
    op.execute("UPDATE router.assignments SET status = 'accepted' WHERE status = 'active'")

    op.create_table(
        "tickets",
        sa.Column("ticket_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_type", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(4), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("subcategory", sa.String(64)),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("plan", sa.String(64)),
        sa.Column("vip", sa.Boolean, nullable=False),
        sa.Column("triage", sa.Boolean, nullable=False),
        sa.Column("deflected", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("escalated_tier", sa.SmallInteger),
        sa.Column("escalated_skill", sa.String(64)),
        sa.Column("declined_by", pg.JSONB, nullable=False, server_default="[]"),
        sa.Column("last_agent_id", sa.String(64)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sla_due_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.execute("""
        INSERT INTO router.tickets (ticket_id, ticket_type, priority, category, channel,
            language, vip, triage, deflected, status, last_agent_id, attempts, created_at)
        SELECT ticket_id, 'incident', priority, category, channel, 'en', false, false, false,
               CASE WHEN status = 'released' THEN 'resolved' ELSE 'new' END, agent_id, 1,
               assigned_at FROM router.assignments
        UNION ALL
        SELECT ticket_id, 'incident', priority, category, channel, 'en', false, triage, false,
               'new', NULL, 0, queued_at FROM router.queue
        ON CONFLICT DO NOTHING
    """)

    op.add_column("assignments", sa.Column("agent_tier", sa.SmallInteger, nullable=False,
                                           server_default="1"), schema=SCHEMA)
    op.add_column("assignments", sa.Column("attempt", sa.Integer, nullable=False,
                                           server_default="1"), schema=SCHEMA)
    op.add_column("assignments", sa.Column("offer_expires_at", sa.DateTime(timezone=True)),
                  schema=SCHEMA)
    op.add_column("assignments", sa.Column("accepted_at", sa.DateTime(timezone=True)),
                  schema=SCHEMA)
    op.execute("UPDATE router.assignments a SET accepted_at = assigned_at, "
               "agent_tier = (SELECT tier FROM router.agents WHERE id = a.agent_id)")
    op.create_index("assignments_offer_expiry_idx", "assignments", ["offer_expires_at"],
                    schema=SCHEMA, postgresql_where=sa.text("status = 'offered'"))

    op.create_table(
        "assignment_history",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("detail", pg.JSONB, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("assignment_history_ticket_idx", "assignment_history",
                    ["ticket_id", "id"], schema=SCHEMA)

    op.drop_index("queue_order_idx", table_name="queue", schema=SCHEMA)
    for column in [
            sa.Column("queue", sa.String(64), nullable=False, server_default="default"),
            sa.Column("eff_rank", sa.SmallInteger, nullable=False, server_default="3"),
            sa.Column("skill", sa.String(64), nullable=False, server_default="general"),
            sa.Column("generalist", sa.Boolean, nullable=False, server_default=sa.true()),
            sa.Column("min_tier", sa.SmallInteger, nullable=False, server_default="1"),
            sa.Column("max_tier", sa.SmallInteger, nullable=False, server_default="3"),
            sa.Column("sla_due_at", sa.DateTime(timezone=True)),
            sa.Column("review_at", sa.DateTime(timezone=True))]:
        op.add_column("queue", column, schema=SCHEMA)
    op.execute("UPDATE router.queue SET skill = CASE WHEN triage THEN 'triage' "
               "ELSE category END, generalist = NOT triage, "
               "eff_rank = substr(priority, 2)::smallint, review_at = queued_at")
    op.create_index("queue_order_idx", "queue", ["eff_rank", "sla_due_at", "queued_at"],
                    schema=SCHEMA)
    op.create_index("queue_skill_order_idx", "queue",
                    ["skill", "channel", "eff_rank", "sla_due_at", "queued_at"], schema=SCHEMA)
    op.create_index("queue_review_idx", "queue", ["review_at"], schema=SCHEMA)
    op.create_index("queue_name_idx", "queue", ["queue", "queued_at"], schema=SCHEMA)


def downgrade() -> None:
    for index in ("queue_name_idx", "queue_review_idx", "queue_skill_order_idx",
                  "queue_order_idx"):
        op.drop_index(index, table_name="queue", schema=SCHEMA)
    for column in ("review_at", "sla_due_at", "max_tier", "min_tier", "generalist", "skill",
                   "eff_rank", "queue"):
        op.drop_column("queue", column, schema=SCHEMA)
    op.create_index("queue_order_idx", "queue", ["priority", "queued_at"], schema=SCHEMA)
    op.drop_table("assignment_history", schema=SCHEMA)
    op.drop_index("assignments_offer_expiry_idx", table_name="assignments", schema=SCHEMA)
    op.execute("UPDATE router.assignments SET status = 'active' "
               "WHERE status IN ('offered', 'accepted')")
    for column in ("accepted_at", "offer_expires_at", "attempt", "agent_tier"):
        op.drop_column("assignments", column, schema=SCHEMA)
    op.drop_table("tickets", schema=SCHEMA)
    op.drop_index("agents_presence_tier_idx", table_name="agents", schema=SCHEMA)
    op.drop_index("agents_skills_idx", table_name="agents", schema=SCHEMA)
    for column in ("active_total", "active_by_channel", "working_hours", "timezone",
                   "manager"):
        op.drop_column("agents", column, schema=SCHEMA)
