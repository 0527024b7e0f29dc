"""SLA's tables, all in the ``sla`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
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

outbox, inbox = bus_tables(metadata)
