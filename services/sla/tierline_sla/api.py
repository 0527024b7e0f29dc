"""SLA's REST endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

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
    elapsed_seconds: float
    remaining_seconds: float
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
    out = []
    for row in rows:
        end = row.stopped_at or now
        elapsed = max((end - row.started_at).total_seconds(), 0.0)
        out.append(ClockOut(**{k: getattr(row, k) for k in (
            "clock", "priority", "status", "started_at", "due_at", "target_seconds",
            "stopped_at")}, elapsed_seconds=elapsed,
            remaining_seconds=(row.due_at - end).total_seconds()))
    return TicketSlaOut(ticket_id=ticket_id, clocks=out, history=[
        HistoryOut(event_id=e.event_id, event_type=e.event_type, at=e.at, detail=e.detail)
        for e in events])
