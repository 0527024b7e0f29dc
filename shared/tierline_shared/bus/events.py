"""One pydantic model per event type. The type name carries the version."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

TicketType = Literal["incident", "service_request"]
Priority = Literal["P1", "P2", "P3", "P4", "P5"]
Channel = Literal["phone", "email", "chat", "portal", "ivr", "api"]
ClockName = Literal["first_response", "resolution", "update"]


class Event(BaseModel):
    """Base of every event body; ``event_type`` is the CloudEvents ``type`` attribute and
    ``subject`` (the ticket or the agent) is its ``subject`` and the message key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]

    @property
    def subject(self) -> str:
        raise NotImplementedError


class TicketEvent(Event):
    ticket_id: UUID

    @property
    def subject(self) -> str:
        return str(self.ticket_id)


Status = Literal["new", "acknowledged", "in_progress", "pending_customer", "resolved",
                 "closed", "reopened"]


class TicketCreated(TicketEvent):
    """A ticket was logged by intake, categorized and prioritized."""

    event_type: ClassVar[str] = "tierline.ticket.created.v1"

    ticket_type: TicketType
    title: str
    category: str
    subcategory: str | None = None
    needs_triage: bool = False
    priority: Priority
    impact: str
    urgency: str
    channel: Channel
    requester_id: str
    vip: bool = False
    plan: str | None = None
    language: str = "en"
    service: str | None = None
    configuration_item: str | None = None
    business_critical: bool = False
    affected_scope: Literal["individual", "team", "business_unit", "organization"] | None = None
    workaround_available: bool | None = None
    compliance_exposure: bool = False
    reported_start: datetime | None = Field(
        default=None, description="when the requester says the problem started")
    deflected: bool = Field(
        default=False, description="resolved by self-service (Tier 0): never routed to an agent")
    created_at: datetime


class TicketStatusChanged(TicketEvent):
    """The ticket moved from one status to another (closing says how: by the customer's
    confirmation or automatically)."""

    event_type: ClassVar[str] = "tierline.ticket.status_changed.v1"

    ticket_type: TicketType
    from_status: Status
    to_status: Status
    actor: str | None = None
    note: str | None = None
    resolution_notes: str | None = None
    auto: bool = False
    closed_by: Literal["customer_confirmation", "auto_close"] | None = None
    priority: Priority
    category: str
    channel: Channel
    changed_at: datetime


class TicketPriorityChanged(TicketEvent):
    """Someone changed the ticket's priority; SLA clocks re-target, keeping accrued time."""

    event_type: ClassVar[str] = "tierline.ticket.priority_changed.v1"

    from_priority: Priority
    to_priority: Priority
    by: str
    reason: str | None = None
    changed_at: datetime


class TicketCommented(TicketEvent):
    """Someone commented on the ticket."""

    event_type: ClassVar[str] = "tierline.ticket.commented.v1"

    author: str
    public: bool
    from_requester: bool = Field(default=False, description="the customer's own words")
    text: str
    commented_at: datetime


class ReassignmentRequested(TicketEvent):
    """Someone asked for the ticket to go to another tier or skill."""

    event_type: ClassVar[str] = "tierline.ticket.reassignment_requested.v1"

    requested_by: str
    reason: str
    to_tier: int | None = Field(default=None, ge=1, le=3)
    to_skill: str | None = None
    requested_at: datetime


class TicketDeskAssigneeChanged(TicketEvent):
    """The desk a ticket came from (ServiceNow, Jira, Zendesk) shows who works it: a person
    took it or was given it there, or put it in progress. ``desk_user`` is the desk's own id
    (sys_user sys_id, accountId, user id), which router maps to an agent per connection."""

    event_type: ClassVar[str] = "tierline.ticket.desk_assignee_changed.v1"

    connection: str
    system: str
    desk_user: str | None
    in_progress: bool
    changed_at: datetime


class SurveyRequested(TicketEvent):
    """The ticket was resolved: ask the requester for CSAT (1-5) and NPS (0-10)."""

    event_type: ClassVar[str] = "tierline.ticket.survey_requested.v1"

    requester_id: str
    channel: Channel
    requested_at: datetime


class SurveyAnswered(TicketEvent):
    """The requester answered the satisfaction survey."""

    event_type: ClassVar[str] = "tierline.ticket.survey_answered.v1"

    kind: Literal["csat", "nps"]
    score: int = Field(ge=0, le=10)
    comment: str | None = None
    answered_at: datetime


class TicketAssigned(TicketEvent):
    """Router offered the ticket to an agent, holding a place in the agent's capacity until
    the agent accepts, declines or lets ``offer_expires_at`` pass; ``reasons`` explains the
    choice. ``attempt`` counts the assignments of this ticket (2 or more is a reassignment)."""

    event_type: ClassVar[str] = "tierline.ticket.assigned.v1"

    agent_id: str
    agent_tier: int = Field(ge=0, le=3)
    priority: Priority
    category: str
    channel: Channel
    assigned_at: datetime
    reasons: dict[str, Any] = Field(default_factory=dict)
    attempt: int = Field(default=1, ge=1)
    agent_team: str | None = Field(default=None, description="the agent's team when offered")
    previous_agent_id: str | None = None
    offer_expires_at: datetime | None = None


class TicketOfferAnswered(TicketEvent):
    """The agent answered an offer: accepted it (the work is theirs), or it went back to
    routing because they declined, did not answer in time, or went away or offline."""

    event_type: ClassVar[str] = "tierline.ticket.offer_answered.v1"

    agent_id: str
    outcome: Literal["accepted", "declined", "timed_out", "agent_unavailable", "withdrawn"]
    reason: str | None = None
    answered_at: datetime
    agent_desk_ids: dict[str, dict[str, str | None]] = Field(
        default_factory=dict, description="on acceptance: the agent's ids in each desk "
        "connection ({connection: {user, group}}), for the write-back")
    reasons: dict[str, Any] = Field(default_factory=dict, description="on acceptance: why "
                                    "router chose the agent")
    attempt: int | None = Field(default=None, ge=1, description="the offer answered: its "
                                "TicketAssigned.attempt (absent from events before it was "
                                "added)")


class TicketQueued(TicketEvent):
    """No agent could take the ticket; it waits in router's queue."""

    event_type: ClassVar[str] = "tierline.ticket.queued.v1"

    priority: Priority
    category: str
    queued_at: datetime
    reason: str
    attempt: int | None = Field(default=None, ge=0, description="offers of the ticket made "
                                "before it was queued, 0 for none (absent from events before "
                                "it was added)")


class SlaClockStarted(TicketEvent):
    """An SLA clock started for the ticket, due at ``due_at``."""

    event_type: ClassVar[str] = "tierline.sla.clock_started.v1"

    clock: ClockName
    priority: Priority
    started_at: datetime
    due_at: datetime
    target_seconds: int = Field(ge=0)


class SlaWarning(TicketEvent):
    """A running SLA clock passed a warning threshold (a share of its target)."""

    event_type: ClassVar[str] = "tierline.sla.warning.v1"

    clock: ClockName
    priority: Priority
    threshold_percent: int = Field(gt=0, lt=100)
    due_at: datetime
    target_seconds: int = Field(ge=0)
    at: datetime


class SlaBreached(TicketEvent):
    """A running SLA clock reached its target without being met."""

    event_type: ClassVar[str] = "tierline.sla.breached.v1"

    clock: ClockName
    priority: Priority
    due_at: datetime
    target_seconds: int = Field(ge=0)
    at: datetime


class TicketEscalated(TicketEvent):
    """An escalation: functional (to a higher tier or another skill; router moves the
    ticket) or hierarchical (notify a manager, raise the priority). ``trigger`` says what
    set it off, ``reason`` why, ``level`` how many times this rule has escalated it."""

    event_type: ClassVar[str] = "tierline.ticket.escalated.v1"

    kind: Literal["functional", "hierarchical"]
    level: int = Field(ge=1)
    trigger: Literal["time", "sentiment", "complexity", "repeat_contact", "major_incident",
                     "agent"]
    rule: str
    reason: str
    clock: ClockName | None = None
    to_tier: int | None = Field(default=None, ge=1, le=3)
    to_skill: str | None = None
    notify: list[Literal["team_manager", "duty_manager", "incident_manager"]] = Field(
        default_factory=list)
    raise_priority_to: Priority | None = None
    escalated_at: datetime


class MajorIncidentEvent(Event):
    major_incident_id: UUID

    @property
    def subject(self) -> str:
        return str(self.major_incident_id)


class MajorIncidentDeclared(MajorIncidentEvent):
    """A major incident was declared, by a detection rule or by someone through the API."""

    event_type: ClassVar[str] = "tierline.major_incident.declared.v1"

    title: str
    service: str | None = None
    trigger: Literal["rule", "api"]
    rule: str | None = None
    reason: str
    declared_by: str
    incident_manager: str | None = None
    ticket_ids: list[UUID] = Field(default_factory=list)
    declared_at: datetime


class MajorIncidentTicketLinked(MajorIncidentEvent):
    """A ticket was linked to a major incident as its child."""

    event_type: ClassVar[str] = "tierline.major_incident.ticket_linked.v1"

    ticket_id: UUID
    linked_at: datetime


class MajorIncidentUpdateDue(MajorIncidentEvent):
    """Stakeholders are due an update on a major incident not yet restored."""

    event_type: ClassVar[str] = "tierline.major_incident.update_due.v1"

    incident_manager: str | None = None
    sequence: int = Field(ge=1)
    last_update_at: datetime
    due_at: datetime


class MajorIncidentChanged(MajorIncidentEvent):
    """A major incident moved on: a stakeholder update was posted, service was restored,
    it was resolved, its review closed it."""

    event_type: ClassVar[str] = "tierline.major_incident.changed.v1"

    status: Literal["declared", "restored", "resolved", "closed"]
    change: Literal["update_posted", "manager_assigned", "restored", "root_cause_recorded",
                    "action_item_added", "action_item_completed", "resolved", "closed"]
    by: str
    note: str | None = None
    changed_at: datetime


class ProblemEvent(Event):
    problem_id: UUID

    @property
    def subject(self) -> str:
        return str(self.problem_id)


class ProblemIdentified(ProblemEvent):
    """Recurring incidents became a problem candidate linking them."""

    event_type: ClassVar[str] = "tierline.problem.identified.v1"

    reason: str
    service: str | None = None
    category: str | None = None
    ticket_ids: list[UUID]
    identified_at: datetime


class ProblemWorkaroundRecorded(ProblemEvent):
    """A workaround was recorded on a problem: knowledge for the knowledge base."""

    event_type: ClassVar[str] = "tierline.problem.workaround_recorded.v1"

    title: str
    workaround: str
    by: str
    recorded_at: datetime


class TicketRequesterErased(TicketEvent):
    """The ticket's requester asked to be forgotten: intake anonymized its copy and tells
    the other services how to do the same with theirs. The event names no personal data:
    each stored string whose SHA-256 (hex) is a key of ``replacements`` is replaced by its
    value (the requester id by ``pseudonym``, the customer's own words by ``[erased]``, a
    title by the title without their name or email). Keyed by ticket id on the ticket's
    topic, so it follows every earlier event of the ticket."""

    event_type: ClassVar[str] = "tierline.ticket.requester_erased.v1"

    erasure_id: UUID
    pseudonym: str = Field(description="what the requester id became, the same on every "
                           "ticket of the person, so counts per customer still add up")
    replacements: dict[str, str] = Field(
        default_factory=dict, description="SHA-256 (hex) of an original string -> the "
        "string that replaces it")
    erased_at: datetime


class AgentPresenceChanged(Event):
    """An agent's presence changed (available, busy, away, offline)."""

    event_type: ClassVar[str] = "tierline.agent.presence_changed.v1"

    agent_id: str
    presence: Literal["available", "busy", "away", "offline"]
    previous: Literal["available", "busy", "away", "offline"] | None = None
    changed_at: datetime

    @property
    def subject(self) -> str:
        return self.agent_id


InteractionKind = Literal["contact_started", "contact_ended", "message", "ivr_menu",
                          "self_service", "transfer", "csat"]

# What each kind of interaction event cannot do without (besides interaction_id and kind).
INTERACTION_REQUIRES: dict[str, tuple[str, ...]] = {
    "contact_started": ("channel", "customer_id"),
    "contact_ended": (),
    "message": ("author", "text"),
    "ivr_menu": ("menu_path",),
    "self_service": ("outcome",),
    "transfer": ("to_channel",),
    "csat": ("score",),
}


def interaction_missing(values: dict[str, Any]) -> list[str]:
    """The fields an interaction event of its kind needs but lacks."""
    return [name for name in INTERACTION_REQUIRES.get(values.get("kind") or "", ())
            if values.get(name) in (None, "", [])]


class InteractionOccurred(Event):
    """Something happened in a customer contact on a chat or IVR front: it started or
    ended, someone wrote, the caller went through the IVR menu, self-service resolved it or
    not, it was handed to another channel (``transfer``, or ``contact_started`` with
    ``transferred_from``), the customer answered the CSAT survey. Fronts produce these on
    the interactions topic (or POST them to intake), keyed by interaction id."""

    event_type: ClassVar[str] = "tierline.interaction.occurred.v1"

    interaction_id: str = Field(min_length=1, max_length=200)
    kind: InteractionKind
    channel: Channel | None = None
    customer_id: str | None = Field(default=None, min_length=1, max_length=200)
    customer_name: str | None = Field(default=None, max_length=200)
    ticket_id: UUID | None = Field(default=None, description="an existing ticket the contact "
                                   "is about")
    about: str | None = Field(default=None, max_length=2000,
                              description="what the contact is about, in the customer's "
                              "words or the IVR intent")
    transferred_from: str | None = Field(default=None, max_length=200,
                                         description="the interaction this one continues")
    author: Literal["customer", "agent", "bot"] | None = None
    agent_id: str | None = Field(default=None, max_length=200)
    text: str | None = Field(default=None, max_length=5000)
    menu_path: list[str] = Field(default_factory=list, max_length=20)
    outcome: Literal["resolved", "not_resolved", "abandoned"] | None = None
    article_id: UUID | None = Field(default=None, description="the knowledge-base article "
                                    "that self-service offered")
    to_channel: Channel | None = None
    to_interaction_id: str | None = Field(default=None, max_length=200)
    score: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=5000)
    occurred_at: datetime

    @model_validator(mode="after")
    def _complete(self) -> InteractionOccurred:
        missing = interaction_missing(self.model_dump())
        if missing:
            raise ValueError(f"a {self.kind} interaction needs {', '.join(missing)}")
        return self

    @property
    def subject(self) -> str:
        return self.interaction_id


class TicketContactLinked(TicketEvent):
    """A customer contact (chat, IVR, phone) was linked to the ticket: a repeat contact
    about the same issue, or the next leg of a hand-off between channels."""

    event_type: ClassVar[str] = "tierline.ticket.contact_linked.v1"

    interaction_id: str
    channel: Channel
    repeat: bool = Field(description="the customer came back about the same issue")
    repeat_contacts: int = Field(ge=0, description="repeat contacts on the ticket so far")
    transferred_from: str | None = None
    reason: str
    linked_at: datetime


class VoiceOfCustomerSignal(Event):
    """Metrics saw more contacts (or escalations, or "how do I" questions) on one issue type
    in a day than its trailing baseline explains: a one-sided Poisson test, ``p_value``
    below the configured alpha. Keyed by the dimension and key."""

    event_type: ClassVar[str] = "tierline.metrics.voc_signal.v1"

    signal_id: UUID
    kind: Literal["contact_spike", "how_to_growth", "escalation_cluster"]
    dimension: Literal["category", "subcategory", "product"]
    key: str
    day: date
    observed: int = Field(ge=0)
    expected: float = Field(ge=0, description="the baseline's daily rate")
    p_value: float = Field(ge=0, le=1)
    baseline_days: int = Field(ge=1)
    detected_at: datetime

    @property
    def subject(self) -> str:
        return f"{self.dimension}:{self.key}"


EVENT_TYPES: dict[str, type[Event]] = {
    model.event_type: model
    for model in (TicketCreated, TicketStatusChanged, TicketPriorityChanged, TicketCommented,
                  ReassignmentRequested, SurveyRequested, SurveyAnswered, TicketAssigned,
                  TicketOfferAnswered, TicketQueued, SlaClockStarted, SlaWarning, SlaBreached,
                  TicketEscalated,
                  MajorIncidentDeclared, MajorIncidentTicketLinked, MajorIncidentUpdateDue,
                  MajorIncidentChanged, ProblemIdentified, ProblemWorkaroundRecorded,
                  AgentPresenceChanged, InteractionOccurred, TicketContactLinked,
                  TicketRequesterErased, VoiceOfCustomerSignal, TicketDeskAssigneeChanged)
}
