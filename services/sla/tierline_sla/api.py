"""SLA's REST endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from tierline_shared.web import RuntimeDep, SessionDep, error_body
from tierline_sla.service import read_clocks

router = APIRouter(prefix="/v1", tags=["sla"])


class ClockOut(BaseModel):
    clock: str
    priority: str
    status: str
    started_at: datetime
    due_at: datetime
    target_seconds: int
    calendar: str
    elapsed_seconds: float = Field(description="business time on the calendar")
    remaining_seconds: float = Field(description="business time left; negative once overdue")
    elapsed_wall_seconds: float
    stopped_at: datetime | None


class HistoryOut(BaseModel):
    event_id: UUID
    event_type: str
    at: datetime
    detail: dict[str, Any]


class TicketSlaOut(BaseModel):
    ticket_id: UUID
    clocks: list[ClockOut]
    history: list[HistoryOut]


@router.get("/sla/{ticket_id}", response_model=TicketSlaOut,
            responses={404: {"description": "No clocks for this ticket (yet)"}})
async def ticket_sla(ticket_id: UUID, session: SessionDep, runtime: RuntimeDep) -> TicketSlaOut:
    rows, events = await read_clocks(session, ticket_id)
    if not rows:
        raise HTTPException(404, error_body("not_found", f"no SLA clocks for ticket {ticket_id}"))
    now = runtime.clock.now()
    policy = runtime.state["sla_policy"]
    out = []
    for row in rows:
        end = row.stopped_at or now
        calendar = policy.calendar_for(row.priority)
        remaining = (calendar.business_seconds(end, row.due_at) if row.due_at >= end
                     else -calendar.business_seconds(row.due_at, end))
        out.append(ClockOut(**{k: getattr(row, k) for k in (
            "clock", "priority", "status", "started_at", "due_at", "target_seconds",
            "stopped_at")}, calendar=calendar.name,
            elapsed_seconds=calendar.business_seconds(row.started_at, end),
            remaining_seconds=remaining,
            elapsed_wall_seconds=max((end - row.started_at).total_seconds(), 0.0)))
    return TicketSlaOut(ticket_id=ticket_id, clocks=out, history=[
        HistoryOut(event_id=e.event_id, event_type=e.event_type, at=e.at, detail=e.detail)
        for e in events])
