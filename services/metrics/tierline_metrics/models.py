"""Metrics' read models, all in the ``metrics`` schema."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, SmallInteger, String, Table
from sqlalchemy.dialects.postgresql import UUID

from tierline_shared.db import bus_tables

SCHEMA = "metrics"
metadata = MetaData(schema=SCHEMA)

# One row per ticket, filled in by whichever event arrives first (topics are not ordered
# against each other, so an assignment may be seen before the ticket's creation).
ticket_facts = Table(
    "ticket_facts",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_type", String(32)),
    Column("channel", String(16)),
    Column("created_priority", String(4)),
    Column("created_category", String(64)),
    Column("created_at", DateTime(timezone=True)),
    Column("assigned_priority", String(4)),
    Column("assigned_category", String(64)),
    Column("agent_id", String(64)),
    Column("assigned_at", DateTime(timezone=True)),
    Column("queued_at", DateTime(timezone=True)),
    Column("first_response_due_at", DateTime(timezone=True)),
    Column("resolution_due_at", DateTime(timezone=True)),
    Column("status", String(32)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", String(32)),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("csat", SmallInteger),
    Column("nps", SmallInteger),
)

# Every presence change router publishes, for adherence to the schedule.
presence_log = Table(
    "presence_log",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("presence", String(16), nullable=False),
)

# Scheduled shifts per agent (from the staffing plan or a workforce tool).
schedule_shifts = Table(
    "schedule_shifts",
    metadata,
    Column("agent_id", String(64), primary_key=True),
    Column("starts_at", DateTime(timezone=True), primary_key=True),
    Column("ends_at", DateTime(timezone=True), nullable=False),
)

outbox, inbox = bus_tables(metadata)
