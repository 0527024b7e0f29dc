"""Request and response bodies of the console's endpoints: an agent's work, a force-assign."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tierline_router.agents.schemas import AgentIdStr


class WorkItem(BaseModel):
    ticket_id: UUID
    status: str = Field(description="offered or accepted")
    channel: str
    priority: str
    category: str
    attempt: int
    assigned_at: datetime
    offer_expires_at: datetime | None
    accepted_at: datetime | None
    sla_due_at: datetime | None
    reasons: dict[str, Any]


class AgentWork(BaseModel):
    agent_id: str
    presence: str
    offers: list[WorkItem] = Field(description="open offers, oldest first")
    holding: list[WorkItem] = Field(description="accepted work, oldest first")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"agent_id": "ana", "reason": "customer asked for Ana", "override_capacity": False}]})
    agent_id: AgentIdStr
    reason: str = Field(min_length=1, max_length=1000)
    override_capacity: bool = Field(default=False, description="assign even past the "
                                    "agent's capacity; the audit and history record it")


class AssignOut(BaseModel):
    ticket_id: UUID
    agent_id: str
    status: str
    previous_agent_id: str | None
    reason: str
    capacity_overridden: str | None = Field(description="the capacity rule overridden, if any")
