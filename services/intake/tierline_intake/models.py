"""Intake's tables, all in the ``intake`` schema."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from tierline_shared.db import bus_tables

SCHEMA = "intake"
metadata = MetaData(schema=SCHEMA)

tickets = Table(
    "tickets",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_type", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("requester", JSONB, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("impact", String(16), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("priority", String(4), nullable=False),
    Column("category", String(64), nullable=False),
    Column("subcategory", String(64)),
    Column("needs_triage", Boolean, nullable=False),
    Column("explanation", JSONB, nullable=False),
    Column("context", JSONB, nullable=False),
    Column("external_system", String(64)),
    Column("external_id", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),
    UniqueConstraint("idempotency_key", name="tickets_idempotency_key_key"),
    Index("tickets_created_at_idx", "created_at"),
)

outbox, inbox = bus_tables(metadata)
