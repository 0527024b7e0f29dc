"""The ``auth`` schema: API keys, shared by every service (the one table no service owns)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "auth"
metadata = MetaData(schema=SCHEMA)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("name", Text, nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("scopes", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("replaces", String(12)),
    Column("agent_id", String(64)),
)

# Each key's token bucket when the limit is kept for the whole cluster (unlogged).
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key_id", String(12), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("allowed", Boolean, nullable=False),
    prefixes=["UNLOGGED"],
)
