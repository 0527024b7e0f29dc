"""Per-ticket history folded from the event stream: the input of every KPI formula.

Pure: events in, :class:`Ticket` records out. Events from different topics reach metrics in
no particular order, so the fold sorts each ticket's events by their own timestamps (ties
broken by a fixed rank per event type, then by arrival) and the result does not depend on
the order they were consumed in: a replay gives the same records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from tierline_shared.bus.events import (
    AgentPresenceChanged,
    Event,
    SlaBreached,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketEscalated,
    TicketPriorityChanged,
    TicketStatusChanged,
)

RESOLVED = frozenset({"resolved", "closed"})
STAFFED = frozenset({"available", "busy"})

# Same-instant events apply in this order (a ticket is created before it is assigned, ...).
_RANK = {TicketCreated: 0, TicketPriorityChanged: 1, TicketAssigned: 2, TicketStatusChanged: 3,
         TicketEscalated: 4, SlaBreached: 5, SurveyAnswered: 6}


_TIME_FIELDS = ("created_at", "assigned_at", "answered_at", "changed_at", "escalated_at",
                "at", "started_at", "queued_at", "requested_at", "commented_at")
_TIME_FIELD: dict[type[Event], str | None] = {}


def event_time(event: Event) -> datetime | None:
    """The instant an event describes (its own field, not when it was published)."""
    cls = type(event)
    name = _TIME_FIELD.get(cls, "")
    if name == "":  # first of its class: the first of the names that is one of its fields
        name = _TIME_FIELD[cls] = next((n for n in _TIME_FIELDS if n in cls.model_fields),
                                       None)
    value = None if name is None else getattr(event, name)
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class Assignment:
    agent_id: str
    tier: int
    at: datetime
    attempt: int
    team: str | None = None


@dataclass(frozen=True)
class Escalation:
    kind: str  # functional | hierarchical
    at: datetime
    holder: Assignment | None  # who held the ticket when it was raised


@dataclass
class Ticket:
    ticket_id: UUID
    created_at: datetime | None = None
    ticket_type: str | None = None
    category: str | None = None
    subcategory: str | None = None
    product: str | None = None  # the service or configuration item
    channel: str | None = None
    priority: str | None = None
    requester_id: str | None = None
    title: str = ""
    deflected: bool = False
    first_response_at: datetime | None = None
    statuses: list[tuple[datetime, str]] = field(default_factory=list)
    resolutions: list[datetime] = field(default_factory=list)
    reopens: list[datetime] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    breached_clocks: set[str] = field(default_factory=set)
    csat: int | None = None
    nps: int | None = None

    def status_at(self, when: datetime) -> str:
        status = "new"
        for at, to_status in self.statuses:
            if at > when:
                break
            status = to_status
        return status

    @property
    def resolved_at(self) -> datetime | None:
        """The last resolution, if the ticket is resolved or closed now (a reopened ticket
        is not resolved until it is resolved again)."""
        if self.statuses and self.statuses[-1][1] in RESOLVED and self.resolutions:
            return self.resolutions[-1]
        return None

    @property
    def first_resolved_at(self) -> datetime | None:
        return self.resolutions[0] if self.resolutions else None

    @property
    def first_assignment(self) -> Assignment | None:
        return self.assignments[0] if self.assignments else None

    @property
    def reassigned(self) -> bool:
        """An assignment after the first (attempt 2 or more) or to another agent."""
        first = self.first_assignment
        return first is not None and any(
            a.attempt >= 2 or a.agent_id != first.agent_id for a in self.assignments)

    def holder_at(self, when: datetime) -> Assignment | None:
        holder = None
        for assignment in self.assignments:
            if assignment.at > when:
                break
            holder = assignment
        return holder

    @property
    def resolver(self) -> Assignment | None:
        """Who held the ticket when it was (last) resolved."""
        resolved = self.resolved_at
        return self.holder_at(resolved) if resolved is not None else None


def fold_ticket(ticket_id: UUID, events: Iterable[Event]) -> Ticket:
    """Fold one ticket's events, given in arrival order, into its history."""
    ticket = Ticket(ticket_id)
    ordered = sorted(
        (e for e in events if event_time(e) is not None),
        key=lambda e: (event_time(e), _RANK.get(type(e), 9)))  # stable: arrival breaks ties
    for event in ordered:
        _apply(ticket, event)
    return ticket


def _apply(t: Ticket, e: Event) -> None:
    if isinstance(e, TicketCreated):
        t.created_at, t.ticket_type, t.channel = e.created_at, e.ticket_type, e.channel
        t.category, t.subcategory, t.title = e.category, e.subcategory, e.title
        t.product = e.service or e.configuration_item
        t.priority, t.requester_id, t.deflected = e.priority, e.requester_id, e.deflected
    elif isinstance(e, TicketPriorityChanged):
        t.priority = e.to_priority
    elif isinstance(e, TicketAssigned):
        t.assignments.append(Assignment(e.agent_id, e.agent_tier, e.assigned_at, e.attempt,
                                        e.agent_team))
    elif isinstance(e, TicketStatusChanged):
        if t.first_response_at is None and e.from_status == "new" and e.to_status != "new":
            t.first_response_at = e.changed_at
        if e.to_status == "resolved" or (e.to_status == "closed"
                                         and t.status_at(e.changed_at) not in RESOLVED):
            t.resolutions.append(e.changed_at)
        elif e.to_status == "reopened":
            t.reopens.append(e.changed_at)
        t.statuses.append((e.changed_at, e.to_status))
    elif isinstance(e, TicketEscalated):
        t.escalations.append(Escalation(e.kind, e.escalated_at, t.holder_at(e.escalated_at)))
    elif isinstance(e, SlaBreached):
        t.breached_clocks.add(e.clock)
    elif isinstance(e, SurveyAnswered):
        if e.kind == "csat":
            t.csat = e.score
        else:
            t.nps = e.score


def staffed_seconds(changes: Iterable[AgentPresenceChanged], start: datetime,
                    end: datetime) -> dict[str, float]:
    """Per agent, the seconds within [start, end) spent available or busy (logged in to
    work); each presence holds until the agent's next change, the last one until ``end``."""
    by_agent: dict[str, list[AgentPresenceChanged]] = {}
    for change in changes:
        by_agent.setdefault(change.agent_id, []).append(change)
    out: dict[str, float] = {}
    for agent, agent_changes in sorted(by_agent.items()):
        agent_changes.sort(key=lambda c: c.changed_at)
        total = 0.0
        for i, change in enumerate(agent_changes):
            if change.presence not in STAFFED:
                continue
            until = agent_changes[i + 1].changed_at if i + 1 < len(agent_changes) else end
            lo, hi = max(change.changed_at, start), min(until, end)
            if lo < hi:
                total += (hi - lo).total_seconds()
        out[agent] = total
    return out
