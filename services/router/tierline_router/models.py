"""Router's tables, all in the ``router`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from tierline_shared.audit import audit_table
from tierline_shared.db import bus_tables

SCHEMA = "router"
metadata = MetaData(schema=SCHEMA)

# Agents carry their live load (offered plus accepted work, per channel and in total),
# updated in the same transaction as every offer and release while the agent row is locked,
# so several replicas never fill an agent past its capacity.
agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("tier", SmallInteger, nullable=False),
    Column("skills", JSONB, nullable=False),
    Column("channels", JSONB, nullable=False),
    Column("max_total", Integer, nullable=False),
    Column("presence", String(16), nullable=False),
    Column("languages", JSONB, nullable=False),
    Column("team", Text),
    Column("manager", Text),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("working_hours", JSONB),
    Column("desk_ids", JSONB, nullable=False, server_default="{}"),
    Column("active_by_channel", JSONB, nullable=False, server_default="{}"),
    Column("active_total", Integer, nullable=False, server_default="0"),
    Column("last_assigned_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("agents_skills_idx", "skills", postgresql_using="gin"),
    Index("agents_presence_tier_idx", "presence", "tier"),
)

# Router's own view of each ticket: what the rules need to know, fed by intake's events.
tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_type", String(32), nullable=False),
    Column("priority", String(4), nullable=False),
    Column("category", String(64), nullable=False),
    Column("subcategory", String(64)),
    Column("channel", String(16), nullable=False),
    Column("language", String(8), nullable=False),
    Column("plan", String(64)),
    Column("vip", Boolean, nullable=False),
    Column("triage", Boolean, nullable=False),
    Column("deflected", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    Column("escalated_tier", SmallInteger),
    Column("escalated_skill", String(64)),
    Column("declined_by", JSONB, nullable=False, server_default="[]"),
    Column("last_agent_id", String(64)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sla_due_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("agent_id", String(64), ForeignKey(f"{SCHEMA}.agents.id"), nullable=False),
    Column("status", String(16), nullable=False),  # offered, accepted, released
    Column("channel", String(16), nullable=False),
    Column("priority", String(4), nullable=False),
    Column("category", String(64), nullable=False),
    Column("agent_tier", SmallInteger, nullable=False, server_default="1"),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("offer_expires_at", DateTime(timezone=True)),
    Column("accepted_at", DateTime(timezone=True)),
    Column("reasons", JSONB, nullable=False),
    Index("assignments_agent_status_idx", "agent_id", "status"),
    Index("assignments_offer_expiry_idx", "offer_expires_at",
          postgresql_where="status = 'offered'"),
)

history = Table(
    "assignment_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(32), nullable=False),
    Column("agent_id", String(64)),
    Column("detail", JSONB, nullable=False),
    Index("assignment_history_ticket_idx", "ticket_id", "id"),
)

# Waiting work. ``eff_rank`` is the priority rank the ticket has earned by aging, and the
# need's tier bounds and primary skill are kept current by the review job, so an agent who
# frees up finds the best ticket they can take through an index, not a scan.
queue = Table(
    "queue",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("queue", String(64), nullable=False),
    Column("priority", String(4), nullable=False),
    Column("eff_rank", SmallInteger, nullable=False),
    Column("category", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("skill", String(64), nullable=False),
    Column("generalist", Boolean, nullable=False),
    Column("min_tier", SmallInteger, nullable=False),
    Column("max_tier", SmallInteger, nullable=False),
    Column("sla_due_at", DateTime(timezone=True)),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("review_at", DateTime(timezone=True)),
    Column("reason", Text, nullable=False),
    Column("triage", Boolean, nullable=False),
    Index("queue_order_idx", "eff_rank", "sla_due_at", "queued_at"),
    Index("queue_skill_order_idx", "skill", "channel", "eff_rank", "sla_due_at", "queued_at"),
    Index("queue_review_idx", "review_at"),
    Index("queue_name_idx", "queue", "queued_at"),
)

# Who changed what on each agent, written in the change's transaction.
audit_log = audit_table(metadata)

outbox, inbox = bus_tables(metadata)
