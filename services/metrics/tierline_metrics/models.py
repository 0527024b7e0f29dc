"""Metrics' read models, all in the ``metrics`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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
    text,
)
from sqlalchemy.dialects.postgresql import JSON, UUID

from tierline_shared.db import bus_tables

SCHEMA = "metrics"
# A ticket counted in the backlog: logged for an agent and not resolved or closed.
OPEN_TICKET = ("created_at IS NOT NULL AND created_priority IS NOT NULL AND deflected = false "
               "AND (status IS NULL OR status NOT IN ('resolved', 'closed'))")
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
    # From sla's events, for escalation-rate and SLA-attainment KPIs.
    Column("update_due_at", DateTime(timezone=True)),
    Column("escalations", Integer, nullable=False, server_default="0"),
    Column("functional_escalations", Integer, nullable=False, server_default="0"),
    Column("first_response_breached", Boolean, nullable=False, server_default="false"),
    Column("resolution_breached", Boolean, nullable=False, server_default="false"),
    Column("update_breached", Boolean, nullable=False, server_default="false"),
    Column("major_incident_id", UUID(as_uuid=True)),
    Column("first_response_at", DateTime(timezone=True)),
    Column("deflected", Boolean, nullable=False, server_default="false"),
    Index("ix_ticket_facts_major_incident_id", "major_incident_id"),
    Index("ix_ticket_facts_created_at", "created_at"),
    Index("ix_ticket_facts_resolved_at", "resolved_at"),
    # The oldest open ticket per priority (the backlog age gauge), found without a scan.
    Index("ix_ticket_facts_open", "created_priority", "created_at",
          postgresql_where=text(OPEN_TICKET)),
)

# Every event about a ticket that a KPI needs, as published (validated again on reading):
# the KPI folds run over it, so a figure can be recomputed exactly under a new definition.
# ``seq`` keeps arrival order for events of one ticket with the same timestamp.
ticket_log = Table(
    "ticket_log",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", String(80), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("body", JSON, nullable=False),  # as published: read back whole, never queried
    Index("ix_ticket_log_ticket_id", "ticket_id"),
)

# Quality-assurance evaluations of an agent's work (1-5 per dimension), and agents' own
# answers to the employee self-evaluation (ESAT); both arrive by metrics' API, not as events.
qa_evaluations = Table(
    "qa_evaluations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("ticket_id", UUID(as_uuid=True)),
    Column("evaluator", String(64), nullable=False),
    Column("knowledge", SmallInteger, nullable=False),
    Column("attitude", SmallInteger, nullable=False),
    Column("process", SmallInteger, nullable=False),
    Column("comment", Text),
    Column("evaluated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("knowledge BETWEEN 1 AND 5 AND attitude BETWEEN 1 AND 5 "
                    "AND process BETWEEN 1 AND 5", name="ck_qa_scores"),
    Index("ix_qa_evaluations_agent_id", "agent_id", "evaluated_at"),
)

esat_answers = Table(
    "esat_answers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("question", String(64), nullable=False),
    Column("score", SmallInteger, nullable=False),
    Column("comment", Text),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("score BETWEEN 1 AND 5", name="ck_esat_score"),
    Index("ix_esat_answers_agent_id", "agent_id", "answered_at"),
)

# One row per SLA warning or breach sla published (a clock can breach again after a
# priority change re-targets it, so the event id is the key, not the clock).
sla_events = Table(
    "sla_events",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(16), nullable=False),  # warning | breach
    Column("clock", String(16), nullable=False),
    Column("priority", String(4), nullable=False),
    Column("threshold_percent", SmallInteger),  # warnings only
    Column("at", DateTime(timezone=True), nullable=False),
)

escalations = Table(
    "escalations",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_id", UUID(as_uuid=True), nullable=False),
    Column("kind", String(16), nullable=False),  # functional | hierarchical
    Column("trigger", String(32), nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("rule", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("clock", String(16)),
    Column("to_tier", SmallInteger),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_escalations_ticket_id_kind", "ticket_id", "kind"),
)

# ticket_count is recounted from ticket_facts.major_incident_id, so a ticket moved to
# another major incident leaves the first one's count.
major_incidents = Table(
    "major_incidents",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("title", Text),
    Column("service", Text),
    Column("trigger", String(8)),
    Column("declared_at", DateTime(timezone=True)),
    Column("restored_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("ticket_count", Integer, nullable=False, server_default="0"),
    Column("updates_due", Integer, nullable=False, server_default="0"),
)

problems = Table(
    "problems",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("reason", Text),
    Column("service", Text),
    Column("category", Text),
    Column("ticket_count", Integer, nullable=False, server_default="0"),
    Column("identified_at", DateTime(timezone=True)),
    Column("workaround_at", DateTime(timezone=True)),
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

# Voice-of-the-customer signals, one per kind, key and day; each was published once as
# tierline.metrics.voc_signal.v1 (so a rebuild keeps them rather than publish them again).
voc_signals = Table(
    "voc_signals",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("dimension", String(16), nullable=False),
    Column("key", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("observed", Integer, nullable=False),
    Column("expected", Float, nullable=False),
    Column("p_value", Float, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "dimension", "key", "day", name="uq_voc_signals_kind_key_day"),
)

# Every counter Prometheus reads, as a total per name and label values ("" where a counter
# has fewer labels), moved by each batch by what it changed (tierline_metrics.events.counters).
counter_totals = Table(
    "counter_totals",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("a", Text, primary_key=True),
    Column("b", Text, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

outbox, inbox = bus_tables(metadata)
