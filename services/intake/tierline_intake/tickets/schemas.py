"""Request and response bodies of intake's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from tierline_shared.bus.events import Channel, Priority, Status, TicketType

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text5000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=5000)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Name64 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Strict = ConfigDict(extra="forbid")


class Requester(BaseModel):
    model_config = Strict
    id: Text200
    name: Text200 | None = None
    email: Email | None = None
    vip: bool = False
    plan: Name64 | None = Field(default=None, description="the customer's support plan")


class Affected(BaseModel):
    model_config = Strict
    scope: Literal["individual", "team", "business_unit", "organization"] | None = None
    count: int | None = Field(default=None, ge=1, le=10_000_000)
    description: Text200 | None = Field(default=None, examples=["Finance, Berlin office"])


class Service(BaseModel):
    model_config = Strict
    name: Text200
    configuration_item: Text200 | None = None
    business_critical: bool = False


class Attachment(BaseModel):
    model_config = Strict
    name: Text200
    ref: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="where the file is kept (a URL or the ticketing system's reference)")
    content_type: Annotated[str, StringConstraints(max_length=200)] | None = None


class PriorityOverrideIn(BaseModel):
    model_config = Strict
    priority: Priority
    by: Text200 = Field(description="who overrides the matrix")
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


TICKET_EXAMPLE: dict[str, Any] = {
    "title": "VPN keeps disconnecting",
    "description": "The VPN drops every few minutes since this morning; rebooting did not help",
    "requester": {"id": "u-1001", "name": "Ada Park", "email": "ada@example.com"},
    "channel": "portal",
    "affected": {"scope": "team", "count": 12},
    "service": {"name": "Remote access", "configuration_item": "vpn-gw-01",
                "business_critical": True},
    "started_at": "2026-11-24T08:10:00Z",
    "tried": "Rebooted the laptop, reconnected to home wifi",
}


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TICKET_EXAMPLE]})
    title: Text200
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                  max_length=20000)]
    requester: Requester
    channel: Channel
    type: TicketType | None = Field(default=None, description="inferred from the text if absent")
    impact: Name64 | None = Field(default=None, description="one of the priority policy's "
                                  "levels (default high, medium, low); inferred if absent")
    urgency: Name64 | None = Field(default=None, description="as impact")
    category: Name64 | None = Field(default=None, description="inferred if absent")
    subcategory: Name64 | None = None
    priority_override: PriorityOverrideIn | None = None
    affected: Affected | None = None
    service: Service | None = None
    started_at: AwareDatetime | None = Field(
        default=None, description="when the problem started, if earlier than reporting; an SLA "
        "policy may start its clocks from it")
    tried: Text5000 | None = None
    workaround_available: bool | None = Field(
        default=None, description="whether the requester can work around the problem")
    compliance_exposure: bool = Field(
        default=False, description="regulatory or compliance exposure (counts toward a major "
        "incident)")
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    external_system: Name64 | None = None
    external_id: Text200 | None = None
    deflected_by: UUID | None = Field(
        default=None, description="the knowledge-base article that already resolved it "
        "(Tier 0): the ticket is logged deflected and resolved, and never reaches an agent")


TICKET_OUT_EXAMPLE: dict[str, Any] = {
    "id": "0b8e1c2a-4f5d-4c1e-9a7b-2d3c4e5f6a7b", "type": "incident", "status": "new",
    "title": TICKET_EXAMPLE["title"], "description": TICKET_EXAMPLE["description"],
    "requester": {"id": "u-1001", "name": "Ada Park", "email": "ada@example.com",
                  "vip": False},
    "channel": "portal", "impact": "high", "urgency": "medium", "priority": "P2",
    "category": "network", "subcategory": "vpn", "category_confidence": 0.91,
    "needs_triage": False,
    "reasons": [
        {"field": "type", "value": "incident", "source": "inferred",
         "reason": "classifier {'incident': 0.93, 'service_request': 0.07}; words ['drops']",
         "confidence": 0.95},
        {"field": "category", "value": "network", "source": "inferred",
         "reason": "classifier network (0.88); keywords/patterns ['vpn']", "confidence": 0.91},
        {"field": "impact", "value": "medium", "source": "inferred",
         "reason": "affects team; 12 users affected (at least 10)"},
        {"field": "impact", "value": "high", "source": "inferred",
         "reason": "service 'Remote access' is business-critical: raised from medium"},
        {"field": "urgency", "value": "medium", "source": "default",
         "reason": "no urgency words found; policy default"},
        {"field": "priority", "value": "P2", "source": "inferred",
         "reason": "matrix[impact=high][urgency=medium]"},
    ],
    "context": {"affected": {"scope": "team", "count": 12}},
    "created_at": "2026-11-24T09:00:00Z", "updated_at": "2026-11-24T09:00:00Z",
    "reopen_count": 0, "routing_state": "offered", "routing_at": "2026-11-24T09:00:02Z",
    "offered_agent": "agent-17", "offered_tier": 1, "offer_expires_at": "2026-11-24T09:02:02Z",
    "assigned_agent": None, "assigned_tier": None,
}


RoutingState = Literal["offered", "accepted", "queued", "released"]


class Reason(BaseModel):
    field: str
    value: str
    source: Literal["given", "inferred", "default", "override"]
    reason: str
    confidence: float | None = None


class TicketOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TICKET_OUT_EXAMPLE]})
    id: UUID
    type: TicketType
    status: Status
    title: str
    description: str
    requester: Requester
    channel: Channel
    impact: str
    urgency: str
    priority: Priority
    category: str
    subcategory: str | None
    category_confidence: float
    needs_triage: bool
    reasons: list[Reason]
    context: dict[str, Any] = Field(default_factory=dict)
    external_system: str | None = None
    external_id: str | None = None
    external_status: str | None = Field(default=None, description="the status the external "
                                        "system reports, as it reports it")
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    reopen_count: int = 0
    csat: int | None = None
    nps: int | None = None
    repeat_contacts: int = Field(default=0, description="times the customer came back about "
                                 "this issue (chat, IVR, phone) instead of a new ticket")
    deflected: bool = Field(default=False, description="resolved by self-service (Tier 0); "
                            "never routed to an agent")
    routing_state: RoutingState | None = Field(
        default=None, description="where router has the ticket: offered (an offer waits on "
        "offered_agent), accepted (assigned_agent holds it), queued (waiting for an agent), "
        "released (the agent let it go; router's next step not known yet); null before "
        "router's first decision")
    routing_at: datetime | None = Field(default=None, description="when router decided it "
                                        "(the time of its latest routing event)")
    offered_agent: str | None = Field(default=None, description="the agent an open offer "
                                      "waits on")
    offered_tier: int | None = None
    offer_expires_at: datetime | None = Field(default=None, description="when the open "
                                              "offer times out, if it does")
    assigned_agent: str | None = Field(default=None, description="the agent who accepted the "
                                       "ticket and holds it (kept after resolution)")
    assigned_tier: int | None = None


class StatusChange(BaseModel):
    model_config = Strict
    type: Literal["status_change"]
    status: Status
    actor: Text200 | None = None
    note: Text5000 | None = None
    resolution_notes: Text5000 | None = Field(default=None,
                                              description="required when status is resolved")
    propose_article: bool = Field(
        default=False, description="on resolving at Tier 2 or above: propose a knowledge-base "
        "article from the title and resolution notes")


class Comment(BaseModel):
    model_config = Strict
    type: Literal["comment"]
    author: Text200
    text: Text5000
    public: bool = True


class ReassignmentRequest(BaseModel):
    model_config = Strict
    type: Literal["reassignment_request"]
    requested_by: Text200
    reason: Text5000
    to_tier: int | None = Field(default=None, ge=1, le=3)
    to_skill: Name64 | None = None


class CustomerReply(BaseModel):
    model_config = Strict
    type: Literal["customer_reply"]
    fixed: bool | None = Field(
        default=None, description="on a resolved ticket (required there): true confirms the "
        "resolution (closes the ticket), false says it is not fixed (reopens it)")
    text: Text5000 | None = None

    @model_validator(mode="after")
    def _says_something(self) -> CustomerReply:
        if self.fixed is None and self.text is None:
            raise ValueError("a customer reply needs text, or fixed on a resolved ticket")
        return self


class Csat(BaseModel):
    model_config = Strict
    type: Literal["csat"]
    score: int = Field(ge=1, le=5)
    comment: Text5000 | None = None


class Nps(BaseModel):
    model_config = Strict
    type: Literal["nps"]
    score: int = Field(ge=0, le=10)
    comment: Text5000 | None = None


class PriorityChange(BaseModel):
    model_config = Strict
    type: Literal["priority_change"]
    priority: Priority
    by: Text200
    reason: Text5000 | None = None


TicketEventIn = Annotated[StatusChange | Comment | ReassignmentRequest | CustomerReply | Csat | Nps
                          | PriorityChange,
                          Field(discriminator="type")]

EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "acknowledge": {"summary": "An agent acknowledges", "value": {
        "type": "status_change", "status": "acknowledged", "actor": "ana"}},
    "resolve": {"summary": "An agent resolves", "value": {
        "type": "status_change", "status": "resolved", "actor": "ana",
        "resolution_notes": "Replaced the VPN profile; stable for 30 minutes"}},
    "confirm": {"summary": "The customer confirms the fix (closes)", "value": {
        "type": "customer_reply", "fixed": True, "text": "Works now, thanks"}},
    "reject": {"summary": "The customer says it is not fixed (reopens)", "value": {
        "type": "customer_reply", "fixed": False, "text": "It dropped again"}},
    "comment": {"summary": "A comment", "value": {
        "type": "comment", "author": "ana", "text": "Asked for the VPN client logs",
        "public": False}},
    "reassign": {"summary": "A reassignment request", "value": {
        "type": "reassignment_request", "requested_by": "ana",
        "reason": "Needs the network team", "to_tier": 2, "to_skill": "network"}},
    "csat": {"summary": "A CSAT answer", "value": {"type": "csat", "score": 5}},
    "priority": {"summary": "A priority change, with who and why", "value": {
        "type": "priority_change", "priority": "P1", "by": "duty-manager",
        "reason": "Now affects the whole trading floor"}},
    "nps": {"summary": "An NPS answer", "value": {"type": "nps", "score": 9}},
}


class HistoryEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "kind": "status_changed", "actor": "ana", "at": "2026-11-24T09:05:00Z",
        "detail": {"from": "new", "to": "acknowledged", "auto": False}}]})
    kind: str
    actor: str | None
    at: datetime
    detail: dict[str, Any]


class TicketEventOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "ticket": {**TICKET_OUT_EXAMPLE, "status": "acknowledged"},
        "entry": {"kind": "status_changed", "actor": "ana", "at": "2026-11-24T09:05:00Z",
                  "detail": {"from": "new", "to": "acknowledged", "auto": False}}}]})
    ticket: TicketOut
    entry: HistoryEntry
