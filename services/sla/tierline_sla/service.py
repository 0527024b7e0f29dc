"""SLA's handlers: each ticket event becomes clock events; each clock is re-folded from
its events and the result stored, so it can always be recomputed exactly."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.consumer import HandlerContext
from tierline_shared.bus.events import (
    SlaClockStarted,
    TicketAssigned,
    TicketCreated,
    TicketPriorityChanged,
    TicketStatusChanged,
)
from tierline_shared.runtime import Runtime
from tierline_sla.clock import ClockEvent, ClockState, Kind, fold
from tierline_sla.models import clock_events, clocks, history
from tierline_sla.policy import CLOCKS, SlaPolicy


async def _record(ctx: HandlerContext, detail: dict[str, Any]) -> None:
    env = ctx.envelope
    await ctx.session.execute(insert(history).values(
        ticket_id=env.event.ticket_id, event_id=env.id, event_type=env.type, at=env.time,
        detail=detail))


async def load_events(session: AsyncSession, ticket_id: UUID, clock: str) -> list[ClockEvent]:
    rows = (await session.execute(
        select(clock_events.c.at, clock_events.c.kind, clock_events.c.priority)
        .where(clock_events.c.ticket_id == ticket_id, clock_events.c.clock == clock)
        .order_by(clock_events.c.at, clock_events.c.id))).all()
    return [ClockEvent(at, kind, priority) for at, kind, priority in rows]


async def _apply(runtime: Runtime, session: AsyncSession, ticket_id: UUID, clock: str,
                 kind: Kind, at: Any, priority: str | None = None) -> ClockState | None:
    """Append a clock event and store the re-folded clock; None if the clock never started."""
    events = await load_events(session, ticket_id, clock)
    if not events and kind != "start":
        return None
    if events and kind == "start":
        return None  # already started: a duplicate creation
    await session.execute(insert(clock_events).values(ticket_id=ticket_id, clock=clock, at=at,
                                                      kind=kind, priority=priority))
    state = fold(runtime.state["sla_policy"], clock,
                 [*events, ClockEvent(at, kind, priority)])
    values = {"priority": state.priority, "status": state.status, "due_at": state.due_at,
              "target_seconds": state.target_seconds, "elapsed_seconds": state.elapsed_seconds,
              "stopped_at": state.stopped_at}
    if kind == "start":
        await session.execute(insert(clocks).values(ticket_id=ticket_id, clock=clock,
                                                    started_at=at, **values))
    else:
        await session.execute(update(clocks).where(clocks.c.ticket_id == ticket_id,
                                                   clocks.c.clock == clock).values(**values))
    return state


async def on_ticket_created(runtime: Runtime, ctx: HandlerContext) -> None:
    event = ctx.envelope.event
    assert isinstance(event, TicketCreated)
    policy: SlaPolicy = runtime.state["sla_policy"]
    for clock in CLOCKS:
        state = await _apply(runtime, ctx.session, event.ticket_id, clock, "start",
                             event.created_at, event.priority)
        if state is not None and state.due_at is not None:
            await ctx.emit(runtime.topics.sla, runtime.envelope(SlaClockStarted(
                ticket_id=event.ticket_id, clock=clock, priority=event.priority,
                started_at=event.created_at, due_at=state.due_at,
                target_seconds=state.target_seconds)))
    calendar = policy.calendar_for(event.priority).name
    await _record(ctx, {"priority": event.priority, "clocks_started": list(CLOCKS),
                        "calendar": calendar})


async def on_ticket_assigned(runtime: Runtime, ctx: HandlerContext) -> None:
    event = ctx.envelope.event
    assert isinstance(event, TicketAssigned)
    await _record(ctx, {"agent_id": event.agent_id, "assigned_at": event.assigned_at.isoformat()})


async def on_status_changed(runtime: Runtime, ctx: HandlerContext) -> None:
    """The first move out of new is the first response (later updates do not reset it);
    pending_customer pauses the resolution clock and leaving it resumes; resolution stops
    it; a reopen resumes it."""
    event = ctx.envelope.event
    assert isinstance(event, TicketStatusChanged)
    session, tid, at = ctx.session, event.ticket_id, event.changed_at
    detail: dict[str, Any] = {"from": event.from_status, "to": event.to_status}
    if event.from_status == "new":
        state = await _apply(runtime, session, tid, "first_response", "stop", at)
        detail["first_response"] = state.status if state else None
    if event.from_status == "pending_customer":
        await _apply(runtime, session, tid, "resolution", "resume", at)
    steps: dict[str, Kind] = {"pending_customer": "pause", "resolved": "stop",
                              "reopened": "reopen"}
    if event.to_status in steps:
        state = await _apply(runtime, session, tid, "resolution", steps[event.to_status], at)
        detail["resolution"] = state.status if state else None
    await _record(ctx, {k: v for k, v in detail.items() if v is not None})


async def read_clocks(session: AsyncSession, ticket_id: UUID) -> tuple[list[Any], list[Any]]:
    rows = (await session.execute(select(clocks).where(clocks.c.ticket_id == ticket_id)
                                  .order_by(clocks.c.clock))).all()
    events = (await session.execute(select(history).where(history.c.ticket_id == ticket_id)
                                    .order_by(history.c.id))).all()
    return rows, events


async def on_priority_changed(runtime: Runtime, ctx: HandlerContext) -> None:
    """Re-target every clock to the new priority, keeping the time already accrued."""
    event = ctx.envelope.event
    assert isinstance(event, TicketPriorityChanged)
    detail: dict[str, Any] = {"from": event.from_priority, "to": event.to_priority}
    for clock in CLOCKS:
        state = await _apply(runtime, ctx.session, event.ticket_id, clock, "priority",
                             event.changed_at, event.to_priority)
        if state is not None:
            detail[clock] = state.due_at.isoformat() if state.due_at else state.status
    await _record(ctx, detail)
