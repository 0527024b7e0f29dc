"""Router's tables, all in the ``router`` schema."""

from __future__ import annotations

from sqlalchemy import (
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

from tierline_shared.db import bus_tables

SCHEMA = "router"
metadata = MetaData(schema=SCHEMA)

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
    Column("last_assigned_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("agent_id", String(64), ForeignKey(f"{SCHEMA}.agents.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("priority", String(4), nullable=False),
    Column("category", String(64), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("reasons", JSONB, nullable=False),
    Index("assignments_agent_status_idx", "agent_id", "status"),
)

queue = Table(
    "queue",
    metadata,
    Column("ticket_id", UUID(as_uuid=True), primary_key=True),
    Column("priority", String(4), nullable=False),
    Column("category", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("triage", Boolean, nullable=False),
    Index("queue_order_idx", "priority", "queued_at"),
)

outbox, inbox = bus_tables(metadata)
