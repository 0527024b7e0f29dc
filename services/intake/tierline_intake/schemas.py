"""Request and response bodies of intake's REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tierline_shared.bus.events import Channel, Level, Priority, TicketType

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Requester(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Text200
    name: Text200 | None = None
    email: Email | None = None


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text200
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                  max_length=20000)]
    requester: Requester
    channel: Channel
    type: TicketType | None = None
    impact: Level | None = None
    urgency: Level | None = None
    category: Annotated[str, StringConstraints(max_length=64)] | None = None
    service: Text200 | None = None
    started_at: datetime | None = None
    tried: Annotated[str, StringConstraints(max_length=5000)] | None = None
    external_system: Annotated[str, StringConstraints(max_length=64)] | None = None
    external_id: Text200 | None = None


class TicketOut(BaseModel):
    id: UUID
    type: TicketType
    status: str
    title: str
    description: str
    requester: Requester
    channel: Channel
    impact: Level
    urgency: Level
    priority: Priority
    category: str
    subcategory: str | None
    needs_triage: bool
    explanation: dict[str, Any]
    context: dict[str, Any] = Field(default_factory=dict)
    external_system: str | None = None
    external_id: str | None = None
    created_at: datetime
