"""SLA's tables, all in the ``sla`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from tierline_shared.db import bus_tables

SCHEMA = "sla"
metadata = MetaData(schema=SCHEMA)

clocks = Table(
    "clocks",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("clock", String(32), primary_key=True),
    Column("priority", String(4), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True)),
    Column("target_seconds", Integer, nullable=False),
    Column("elapsed_seconds", Float, nullable=False, server_default="0"),
    Column("stopped_at", DateTime(timezone=True)),
    Column("profile", String(64), nullable=False, server_default="default"),
    Column("cycle", Integer, nullable=False, server_default="0"),
    Index("clocks_due_idx", "status", "due_at"),
)

# What each clock is folded from, in order.
clock_events = Table(
    "clock_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("clock", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("priority", String(4)),
    Index("clock_events_ticket_idx", "ticket_id", "clock", "at"),
)

history = Table(
    "history",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", JSONB, nullable=False),
    Index("history_ticket_idx", "ticket_id", "id"),
)

# What sla knows of each ticket: for the escalation matrix, the predictive signals, major
# incident and problem detection.
tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_type", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("category", String(64), nullable=False),
    Column("priority", String(4), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("requester_id", String(200), nullable=False),
    Column("plan", String(64)),
    Column("service", String(200)),
    Column("configuration_item", String(200)),
    Column("business_critical", Boolean, nullable=False),
    Column("affected_scope", String(32)),
    Column("workaround_available", Boolean),
    Column("compliance_exposure", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    Column("tier", Integer, nullable=False, server_default="0"),
    Column("agent_id", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("reassignments", Integer, nullable=False, server_default="0"),
    Column("interactions", Integer, nullable=False, server_default="0"),
    Column("reopens", Integer, nullable=False, server_default="0"),
    Column("negative_messages", Integer, nullable=False, server_default="0"),
    Column("worst_sentiment", Float, nullable=False, server_default="0"),
    Column("major_incident_id", UUID(as_uuid=True)),
    Column("problem_id", UUID(as_uuid=True)),
    Index("sla_tickets_created_idx", "created_at"),
    Index("sla_tickets_requester_idx", "requester_id", "category", "created_at"),
)

# One row per threshold of a running clock (warnings, the breach at 100, escalation
# thresholds beyond): armed on every re-fold, fired once by whichever replica locks it.
timers = Table(
    "timers",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("clock", String(32), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("threshold", Integer, nullable=False),
    Column("target_seconds", Integer, nullable=False),
    Column("priority", String(4), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True)),
    UniqueConstraint("ticket_id", "clock", "cycle", "threshold", "target_seconds",
                     name="timers_once"),
    Index("timers_due_idx", "due_at", postgresql_where=text("fired_at IS NULL")),
)

escalations = Table(
    "escalations",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("ticket_id", "kind", "level", name="escalations_level_once"),
    Index("escalations_ticket_idx", "ticket_id"),
)

major_incidents = Table(
    "major_incidents",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("key", String(300)),
    Column("title", Text, nullable=False),
    Column("service", String(200)),
    Column("status", String(16), nullable=False),
    Column("trigger", String(8), nullable=False),
    Column("rule", String(64)),
    Column("reason", Text, nullable=False),
    Column("declared_by", String(200), nullable=False),
    Column("incident_manager", String(200)),
    Column("declared_at", DateTime(timezone=True), nullable=False),
    Column("restored_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("last_update_at", DateTime(timezone=True), nullable=False),
    Column("next_update_at", DateTime(timezone=True)),
    Column("updates_due", Integer, nullable=False, server_default="0"),
    Column("root_cause", Text),
    Column("action_items", JSONB, nullable=False, server_default="[]"),
    Column("log", JSONB, nullable=False, server_default="[]"),
    # One open major incident per outage key, however many replicas see the burst.
    Index("major_incidents_open_key", "key", unique=True,
          postgresql_where=text("status = 'declared' AND key IS NOT NULL")),
    Index("major_incidents_update_idx", "next_update_at",
          postgresql_where=text("next_update_at IS NOT NULL")),
)

problems = Table(
    "problems",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("key", String(300), nullable=False),
    Column("basis", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("service", String(200)),
    Column("category", String(64)),
    Column("status", String(16), nullable=False),
    Column("ticket_ids", JSONB, nullable=False),
    Column("workaround", Text),
    Column("identified_at", DateTime(timezone=True), nullable=False),
    Index("problems_open_key", "key", unique=True, postgresql_where=text("status = 'open'")),
)

outbox, inbox = bus_tables(metadata)
