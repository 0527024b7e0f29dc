"""SLA's REST endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select

from tierline_shared.auth.deps import require
from tierline_shared.web import RuntimeDep, SessionDep, error_body
from tierline_sla.clocks.domain import fold
from tierline_sla.clocks.service import load_events, read_clocks
from tierline_sla.context import sla_context
from tierline_sla.models import escalations, tickets

router = APIRouter(prefix="/v1", tags=["sla"])


class ClockOut(BaseModel):
    clock: str
    priority: str
    status: str
    started_at: datetime
    due_at: datetime | None = Field(description="none while paused")
    target_seconds: int
    calendar: str
    profile: str = Field(description="the policy profile chosen at logging (type, channel, "
                         "plan)")
    cycle: int = Field(description="restarts so far (the update clock restarts at each "
                       "public update)")
    elapsed_seconds: float = Field(description="business time on the calendar")
    remaining_seconds: float = Field(description="business time left; negative once overdue")
    elapsed_wall_seconds: float
    stopped_at: datetime | None


class HistoryOut(BaseModel):
    event_id: UUID
    event_type: str
    at: datetime
    detail: dict[str, Any]


class EscalationOut(BaseModel):
    kind: str
    level: int
    trigger: str
    rule: str
    reason: str
    at: datetime


class TicketSlaOut(BaseModel):
    ticket_id: UUID
    clocks: list[ClockOut]
    escalations: list[EscalationOut]
    major_incident_id: UUID | None
    problem_id: UUID | None
    history: list[HistoryOut]


@router.get("/sla/{ticket_id}", response_model=TicketSlaOut,
            responses={404: {"description": "No clocks for this ticket (yet)"}},
            dependencies=[require("tickets:read")])
async def ticket_sla(ticket_id: UUID, session: SessionDep, runtime: RuntimeDep) -> TicketSlaOut:
    rows, events = await read_clocks(session, ticket_id)
    if not rows:
        raise HTTPException(404, error_body("not_found", f"no SLA clocks for ticket {ticket_id}"))
    now = runtime.clock.now()
    policy = sla_context(runtime).sla_policy
    out = []
    for row in rows:
        state = fold(policy, row.clock, await load_events(session, ticket_id, row.clock), now,
                     profile=row.profile)
        end = state.stopped_at or now
        calendar = policy.calendar_for(state.priority, row.profile)
        remaining = state.target_seconds - state.elapsed_seconds
        out.append(ClockOut(
            clock=row.clock, priority=state.priority, status=state.status,
            started_at=state.started_at, due_at=state.due_at,
            target_seconds=state.target_seconds, stopped_at=state.stopped_at,
            calendar=calendar.name, profile=row.profile, cycle=state.cycle,
            elapsed_seconds=state.elapsed_seconds,
            remaining_seconds=remaining,
            elapsed_wall_seconds=max((end - state.started_at).total_seconds(), 0.0)))
    esc = (await session.execute(select(escalations).where(escalations.c.ticket_id == ticket_id)
                                 .order_by(escalations.c.id))).all()
    links = (await session.execute(select(tickets.c.major_incident_id, tickets.c.problem_id)
                                   .where(tickets.c.ticket_id == ticket_id))).first()
    return TicketSlaOut(
        ticket_id=ticket_id, clocks=out,
        escalations=[EscalationOut(kind=e.kind, level=e.level, trigger=e.trigger, rule=e.rule,
                                   reason=e.reason, at=e.at) for e in esc],
        major_incident_id=links.major_incident_id if links else None,
        problem_id=links.problem_id if links else None, history=[
        HistoryOut(event_id=e.event_id, event_type=e.event_type, at=e.at, detail=e.detail)
        for e in events])
