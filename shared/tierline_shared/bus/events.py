"""One pydantic model per event type. The type name carries the version."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

TicketType = Literal["incident", "service_request"]
Priority = Literal["P1", "P2", "P3", "P4", "P5"]
Channel = Literal["phone", "email", "chat", "portal", "ivr", "api"]
Level = Literal["high", "medium", "low"]


class Event(BaseModel):
    """Base of every event body; ``event_type`` is the CloudEvents ``type`` attribute."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str]

    ticket_id: UUID

    @property
    def subject(self) -> str:
        return str(self.ticket_id)


class TicketCreated(Event):
    """A ticket was logged by intake, categorized and prioritized."""

    event_type: ClassVar[str] = "tierline.ticket.created.v1"

    ticket_type: TicketType
    title: str
    category: str
    subcategory: str | None = None
    priority: Priority
    impact: Level
    urgency: Level
    channel: Channel
    requester_id: str
    language: str = "en"
    created_at: datetime


class TicketAssigned(Event):
    """Router assigned the ticket to an agent; ``reasons`` explains the choice."""

    event_type: ClassVar[str] = "tierline.ticket.assigned.v1"

    agent_id: str
    agent_tier: int = Field(ge=0, le=3)
    priority: Priority
    category: str
    channel: Channel
    assigned_at: datetime
    reasons: dict[str, Any] = Field(default_factory=dict)


class TicketQueued(Event):
    """No agent could take the ticket; it waits in router's queue."""

    event_type: ClassVar[str] = "tierline.ticket.queued.v1"

    priority: Priority
    category: str
    queued_at: datetime
    reason: str


class SlaClockStarted(Event):
    """An SLA clock started for the ticket, due at ``due_at``."""

    event_type: ClassVar[str] = "tierline.sla.clock_started.v1"

    clock: Literal["first_response", "resolution"]
    priority: Priority
    started_at: datetime
    due_at: datetime
    target_seconds: int = Field(ge=0)


EVENT_TYPES: dict[str, type[Event]] = {
    model.event_type: model
    for model in (TicketCreated, TicketAssigned, TicketQueued, SlaClockStarted)
}
