"""Intake's tables, all in the ``intake`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from tierline_shared.audit import audit_table
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
    Column("category_confidence", Float, nullable=False),
    Column("needs_triage", Boolean, nullable=False),
    Column("reasons", JSONB, nullable=False),
    Column("context", JSONB, nullable=False),
    Column("external_system", String(64)),
    Column("external_id", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", String(32)),
    Column("reopen_count", Integer, nullable=False),
    Column("csat", SmallInteger),
    Column("nps", SmallInteger),
    Column("external_status", String(200)),
    Column("repeat_contacts", Integer, nullable=False),
    Column("deflected", Boolean, nullable=False),
    # Router's decisions as intake learns them (tickets/routing.py): the agent who accepted
    # the ticket, or the one an open offer waits on, or neither while it is queued.
    Column("assigned_agent", String(200)),
    Column("assigned_tier", SmallInteger),
    Column("offered_agent", String(200)),
    Column("offered_tier", SmallInteger),
    Column("offer_expires_at", DateTime(timezone=True)),
    Column("routing_state", String(16)),
    Column("routing_attempt", Integer),
    Column("routing_at", DateTime(timezone=True)),
    Index("tickets_created_at_idx", "created_at"),
    Index("tickets_resolved_idx", "status", "resolved_at"),
    # A customer's recent tickets (enrichment) and open ones (repeat contacts).
    Index("tickets_requester_idx", text("(requester ->> 'id')"), "created_at"),
)

history = Table(
    "ticket_history",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("actor", String(200)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", JSONB, nullable=False),
    Index("ticket_history_ticket_idx", "ticket_id", "id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("scope", String(300), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", SmallInteger, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Tickets that live in ServiceNow, Jira or Zendesk too: one row per external ticket, so
# every update from that system lands on the same Tierline ticket.
external_tickets = Table(
    "external_tickets",
    metadata,
    Column("system", String(32), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("key", String(200), nullable=False),
    Column("external_status", String(200), nullable=False),
    Column("status_mapped", Boolean, nullable=False),
    Column("external_updated_at", DateTime(timezone=True)),
    Column("payload_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("connection_id", UUID(as_uuid=True)),
    Column("external_assignee", String(200)),
    Index("external_tickets_ticket_idx", "ticket_id"),
)

# Customer contacts from chat and IVR fronts; a hand-off links the next leg to the previous.
interactions = Table(
    "interactions",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("customer_name", String(200)),
    Column("ticket_id", UUID(as_uuid=True)),
    Column("status", String(16), nullable=False),
    Column("about", Text),
    Column("transferred_from", String(200)),
    Column("repeat", Boolean, nullable=False),
    Column("deflected", Boolean, nullable=False),
    Column("self_service_outcome", String(16)),
    Column("article_id", UUID(as_uuid=True)),
    Column("csat", SmallInteger),
    Column("suggestions", JSONB, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("interactions_ticket_idx", "ticket_id"),
    Index("interactions_customer_idx", "customer_id", "started_at"),
)

interaction_events = Table(
    "interaction_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("interaction_id", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", JSONB, nullable=False),
    Index("interaction_events_interaction_idx", "interaction_id", "id"),
)

# The customer and account directory tickets are enriched with.
accounts = Table(
    "accounts",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("plan", String(64)),
    Column("tier", String(64)),
    Column("vip", Boolean, nullable=False),
    Column("region", String(64)),
    Column("language", String(16)),
    Column("products", JSONB, nullable=False),
    Column("customer_since", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("account_id", String(200)),
    Column("name", String(200)),
    Column("email", String(254)),
    Column("plan", String(64)),
    Column("tier", String(64)),
    Column("vip", Boolean),
    Column("region", String(64)),
    Column("language", String(16)),
    Column("products", JSONB, nullable=False),
    Column("customer_since", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("customers_account_idx", "account_id"),
    Index("customers_email_idx", "email"),
)

# Knowledge-base articles: published ones are suggested; proposed ones wait for review.
kb_articles = Table(
    "kb_articles",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("category", String(64)),
    Column("owner", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_reviewed_at", DateTime(timezone=True), nullable=False),
    Column("source_ticket_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("kb_articles_status_idx", "status", "last_reviewed_at"),
)

# Outbound webhooks: subscriptions, and one delivery per subscription and event, sent by a
# periodic job with retries; a delivery that used its last try is dead (the dead letter).
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("events", JSONB, nullable=False),
    Column("system", String(32)),
    Column("active", Boolean, nullable=False),
    Column("max_attempts", SmallInteger, nullable=False),
    Column("backoff_s", Float, nullable=False),
    Column("timeout_s", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("authorization", Text),  # sealed like desk credentials
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("subscription_id", UUID(as_uuid=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("ticket_id", UUID(as_uuid=True)),
    Column("payload", JSONB, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", SmallInteger, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_status_code", SmallInteger),
    Column("last_error", Text),
    Column("log", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("subscription_id", "event_id", name="webhook_deliveries_once"),
    Index("webhook_deliveries_due_idx", "status", "next_attempt_at"),
    Index("webhook_deliveries_subscription_idx", "subscription_id", "created_at"),
)

# A ServiceNow instance, Jira site or Zendesk subdomain Tierline writes assignments back to.
# ``credentials`` and ``inbound_secret`` are Fernet tokens (settings.desk_secrets_key), never
# plain text; ``circuit_*`` is the per-connection circuit breaker of the write-back job.
desk_connections = Table(
    "desk_connections",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("system", String(16), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("auth", String(16), nullable=False),
    Column("credentials", Text, nullable=False),
    Column("inbound_secret", Text),
    Column("active", Boolean, nullable=False),
    Column("max_attempts", SmallInteger, nullable=False),
    Column("backoff_s", Float, nullable=False),
    Column("timeout_s", Float, nullable=False),
    Column("circuit_failures", Integer, nullable=False, server_default="0"),
    Column("circuit_open_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One assignment written back to a desk: queued with the event that made it final, sent by
# the write-back job. ``steps_done`` lets a retry skip what the desk already has.
desk_writebacks = Table(
    "desk_writebacks",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("connection_id", UUID(as_uuid=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("target", JSONB, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", SmallInteger, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("steps_done", JSONB, nullable=False),
    Column("last_status_code", SmallInteger),
    Column("last_error", Text),
    Column("log", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("connection_id", "event_id", name="desk_writebacks_once"),
    Index("desk_writebacks_due_idx", "status", "next_attempt_at"),
    Index("desk_writebacks_ticket_idx", "ticket_id", "created_at"),
)

# Signed desk webhooks accepted in the last minutes: a repeat of one is a replay, refused.
inbound_signatures = Table(
    "inbound_signatures",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("connection_id", UUID(as_uuid=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("inbound_signatures_seen_idx", "seen_at"),
)

# Each right-to-erasure request: who asked, when, the pseudonym the person became and what
# changed. The person is kept only as digests of what was asked for (to answer a repeat).
erasures = Table(
    "erasures",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("pseudonym", String(64), nullable=False),
    Column("subject_digests", JSONB, nullable=False),
    Column("counts", JSONB, nullable=False),
    Column("tickets_announced", Integer, nullable=False),
    Column("repeat_of", UUID(as_uuid=True)),
    Index("erasures_pseudonym_idx", "pseudonym", "requested_at"),
)

# The requester's id as the index above spells it, so the planner uses the index.
REQUESTER_ID = tickets.c.requester.op("->>")(literal_column("'id'"))

# Who changed what on each ticket, written in the change's transaction.
audit_log = audit_table(metadata)

outbox, inbox = bus_tables(metadata)
