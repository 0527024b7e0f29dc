"""Folding a run of events into the changes metrics' read models need: pure, no I/O.

Each event changes columns of one row (a ticket's facts, a major incident, a problem) in one
of four ways, which compose over a batch without reading the row:
``set`` (the last value wins), ``first`` (the stored value, else the first one seen),
``max`` (the greatest) and ``add`` (a count). Rows that only accumulate (the ticket log,
SLA warnings and breaches, escalations, presence changes) are collected as they come. The
live consumer writes a fold with one statement per table and shape of change
(:mod:`tierline_metrics.events.writer`); the rebuild folds the whole history and copies it in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from tierline_metrics.kpi.tickets import event_time
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    Event,
    MajorIncidentChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    MajorIncidentUpdateDue,
    ProblemIdentified,
    ProblemWorkaroundRecorded,
    SlaBreached,
    SlaClockStarted,
    SlaWarning,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketEscalated,
    TicketEvent,
    TicketOfferAnswered,
    TicketPriorityChanged,
    TicketQueued,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import Delivered

Op = Literal["set", "first", "max", "add"]

# Events whose every detail a KPI fold may need: kept in ticket_log as published.
LOGGED: tuple[type[Event], ...] = (
    TicketCreated, TicketStatusChanged, TicketPriorityChanged, TicketAssigned,
    TicketOfferAnswered, TicketQueued, TicketEscalated, SlaBreached, SurveyAnswered)
# Every event class the fold reads (an erasure is applied on its own: it rewrites rows).
FOLDED: tuple[type[Event], ...] = (
    *LOGGED, SlaClockStarted, SlaWarning, AgentPresenceChanged, MajorIncidentDeclared,
    MajorIncidentTicketLinked, MajorIncidentChanged, MajorIncidentUpdateDue,
    ProblemIdentified, ProblemWorkaroundRecorded)

# The change that marks each milestone of a major incident.
MILESTONES = {"restored": "restored_at", "resolved": "resolved_at", "closed": "closed_at"}


class Row:
    """The changes to one row: column -> (how, value)."""

    __slots__ = ("changes",)

    def __init__(self) -> None:
        self.changes: dict[str, tuple[Op, Any]] = {}

    def set(self, **values: Any) -> None:
        for name, value in values.items():
            self.changes[name] = ("set", value)

    def first(self, name: str, value: Any) -> None:
        if name not in self.changes:
            self.changes[name] = ("first", value)

    def max(self, name: str, value: Any) -> None:
        old = self.changes.get(name)
        self.changes[name] = ("max", value if old is None else max(old[1], value))

    def add(self, name: str, value: int) -> None:
        old = self.changes.get(name)
        self.changes[name] = ("add", value + (0 if old is None else old[1]))

    def shape(self) -> tuple[tuple[str, Op], ...]:
        return tuple(sorted((name, op) for name, (op, _) in self.changes.items()))

    def value(self, name: str) -> Any:
        return self.changes[name][1]


@dataclass
class Fold:
    """What a run of events changes, in the order the rows must be written."""

    facts: dict[UUID, Row] = field(default_factory=dict)
    major_incidents: dict[UUID, Row] = field(default_factory=dict)
    problems: dict[UUID, Row] = field(default_factory=dict)
    log: list[tuple[UUID, UUID, str, datetime, str]] = field(default_factory=list)
    sla_events: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    presence: list[tuple[str, datetime, str]] = field(default_factory=list)
    # Tickets whose escalation counts, and major incidents whose ticket counts, must be
    # recounted once the rows are written.
    escalated: set[UUID] = field(default_factory=set)
    linked: dict[UUID, UUID] = field(default_factory=dict)  # ticket -> its latest incident
    incidents_linked: set[UUID] = field(default_factory=set)
    applied: int = 0

    def ticket(self, ticket_id: UUID) -> Row:
        row = self.facts.get(ticket_id)
        if row is None:
            row = self.facts[ticket_id] = Row()
        return row

    def incident(self, incident_id: UUID) -> Row:
        row = self.major_incidents.get(incident_id)
        if row is None:
            row = self.major_incidents[incident_id] = Row()
        return row

    def problem(self, problem_id: UUID) -> Row:
        row = self.problems.get(problem_id)
        if row is None:
            row = self.problems[problem_id] = Row()
        return row


def fold(events: Iterable[Delivered[Any]], into: Fold | None = None) -> Fold:
    """Fold ``events`` (new ones, in the order read) into ``into`` or a new fold."""
    out = into if into is not None else Fold()
    for delivered in events:
        event = delivered.envelope.event
        apply = _APPLY.get(type(event))
        if apply is not None:
            apply(out, event, delivered)
        if isinstance(event, LOGGED):
            assert isinstance(event, TicketEvent)
            out.log.append((delivered.envelope.id, event.ticket_id, event.event_type,
                            event_time(event) or delivered.envelope.time,
                            delivered.raw or event.model_dump_json()))
        out.applied += 1
    return out


def merge(into: Fold, other: Fold) -> Fold:
    """Add ``other``, the fold of events ``into`` has not seen, to ``into``. Meant for folds of
    disjoint partitions (a replay split by partition): a row's changes from both compose as
    their operations do; where both set a column (events on different partitions, which no
    consumer orders against each other either), ``other``'s value is kept."""
    for mine, theirs in ((into.facts, other.facts), (into.major_incidents, other.major_incidents),
                         (into.problems, other.problems)):
        for key, row in theirs.items():
            have = mine.get(key)
            if have is None:
                mine[key] = row
                continue
            for name, (op, value) in row.changes.items():
                old = have.changes.get(name)
                if old is None or op == "set":
                    have.changes[name] = (op, value)
                elif op == "max":
                    have.changes[name] = (op, max(old[1], value))
                elif op == "add":
                    have.changes[name] = (op, old[1] + value)
                # "first": the value already there stays
    into.log.extend(other.log)
    into.sla_events.extend(other.sla_events)
    into.escalations.extend(other.escalations)
    into.presence.extend(other.presence)
    into.escalated |= other.escalated
    into.linked.update(other.linked)
    into.incidents_linked |= other.incidents_linked
    into.applied += other.applied
    return into


def _created(out: Fold, e: TicketCreated, d: Delivered[Any]) -> None:
    out.ticket(e.ticket_id).set(ticket_type=e.ticket_type, channel=e.channel,
                                created_priority=e.priority, created_category=e.category,
                                created_at=e.created_at, deflected=e.deflected)


def _assigned(out: Fold, e: TicketAssigned, d: Delivered[Any]) -> None:
    out.ticket(e.ticket_id).set(assigned_priority=e.priority, assigned_category=e.category,
                                agent_id=e.agent_id, assigned_at=e.assigned_at)


def _queued(out: Fold, e: TicketQueued, d: Delivered[Any]) -> None:
    out.ticket(e.ticket_id).set(queued_at=e.queued_at)


def _clock_started(out: Fold, e: SlaClockStarted, d: Delivered[Any]) -> None:
    out.ticket(e.ticket_id).set(**{f"{e.clock}_due_at": e.due_at})


def _status(out: Fold, e: TicketStatusChanged, d: Delivered[Any]) -> None:
    row = out.ticket(e.ticket_id)
    row.set(status=e.to_status)
    if e.from_status == "new" and e.to_status != "new":
        row.first("first_response_at", e.changed_at)
    if e.to_status == "resolved":
        row.set(resolved_at=e.changed_at)
    elif e.to_status == "closed":
        row.set(closed_at=e.changed_at, closed_by=e.closed_by)
    elif e.to_status == "reopened":
        row.add("reopen_count", 1)


def _survey(out: Fold, e: SurveyAnswered, d: Delivered[Any]) -> None:
    out.ticket(e.ticket_id).set(**{e.kind: e.score})


def _presence(out: Fold, e: AgentPresenceChanged, d: Delivered[Any]) -> None:
    out.presence.append((e.agent_id, e.changed_at, e.presence))


def _warning(out: Fold, e: SlaWarning, d: Delivered[Any]) -> None:
    out.sla_events.append({"event_id": d.envelope.id, "ticket_id": e.ticket_id,
                           "kind": "warning", "clock": e.clock, "priority": e.priority,
                           "threshold_percent": e.threshold_percent, "at": e.at})


def _breached(out: Fold, e: SlaBreached, d: Delivered[Any]) -> None:
    out.sla_events.append({"event_id": d.envelope.id, "ticket_id": e.ticket_id,
                           "kind": "breach", "clock": e.clock, "priority": e.priority,
                           "threshold_percent": None, "at": e.at})
    out.ticket(e.ticket_id).set(**{f"{e.clock}_breached": True})


def _escalated(out: Fold, e: TicketEscalated, d: Delivered[Any]) -> None:
    out.escalations.append({"event_id": d.envelope.id, "ticket_id": e.ticket_id,
                            "kind": e.kind, "trigger": e.trigger, "level": e.level,
                            "rule": e.rule, "reason": e.reason, "clock": e.clock,
                            "to_tier": e.to_tier, "at": e.escalated_at})
    out.ticket(e.ticket_id)  # the row exists before its counts are recounted
    out.escalated.add(e.ticket_id)


def _link(out: Fold, incident_id: UUID, ticket_ids: Iterable[UUID]) -> None:
    out.incidents_linked.add(incident_id)
    for ticket_id in ticket_ids:
        out.ticket(ticket_id).set(major_incident_id=incident_id)
        out.linked[ticket_id] = incident_id


def _declared(out: Fold, e: MajorIncidentDeclared, d: Delivered[Any]) -> None:
    out.incident(e.major_incident_id).set(title=e.title, service=e.service, trigger=e.trigger,
                                          declared_at=e.declared_at)
    _link(out, e.major_incident_id, e.ticket_ids)


def _ticket_linked(out: Fold, e: MajorIncidentTicketLinked, d: Delivered[Any]) -> None:
    out.incident(e.major_incident_id)
    _link(out, e.major_incident_id, [e.ticket_id])


def _incident_changed(out: Fold, e: MajorIncidentChanged, d: Delivered[Any]) -> None:
    row = out.incident(e.major_incident_id)
    milestone = MILESTONES.get(e.change)
    if milestone is not None:  # an update posted, a manager assigned: no milestone
        row.first(milestone, e.changed_at)


def _update_due(out: Fold, e: MajorIncidentUpdateDue, d: Delivered[Any]) -> None:
    out.incident(e.major_incident_id).max("updates_due", e.sequence)


def _problem(out: Fold, e: ProblemIdentified, d: Delivered[Any]) -> None:
    out.problem(e.problem_id).set(reason=e.reason, service=e.service, category=e.category,
                                  ticket_count=len(set(e.ticket_ids)),
                                  identified_at=e.identified_at)


def _workaround(out: Fold, e: ProblemWorkaroundRecorded, d: Delivered[Any]) -> None:
    out.problem(e.problem_id).first("workaround_at", e.recorded_at)


_APPLY: dict[type[Event], Any] = {
    TicketCreated: _created, TicketAssigned: _assigned, TicketQueued: _queued,
    SlaClockStarted: _clock_started, TicketStatusChanged: _status,
    SurveyAnswered: _survey, AgentPresenceChanged: _presence, SlaWarning: _warning,
    SlaBreached: _breached, TicketEscalated: _escalated, MajorIncidentDeclared: _declared,
    MajorIncidentTicketLinked: _ticket_linked, MajorIncidentChanged: _incident_changed,
    MajorIncidentUpdateDue: _update_due, ProblemIdentified: _problem,
    ProblemWorkaroundRecorded: _workaround,
}
