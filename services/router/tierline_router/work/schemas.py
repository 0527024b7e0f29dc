"""Request and response bodies of the work endpoints: an assignment, an answer to an offer."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tierline_router.agents.schemas import AgentIdStr


class AssignmentOut(BaseModel):
    ticket_id: UUID
    agent_id: str
    status: str = Field(description="offered, accepted or released")
    channel: str
    priority: str
    category: str
    agent_tier: int
    attempt: int
    assigned_at: datetime
    offer_expires_at: datetime | None
    accepted_at: datetime | None
    reasons: dict[str, Any]


class OfferAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: AgentIdStr
    reason: str | None = Field(default=None, max_length=1000)
