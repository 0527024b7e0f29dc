"""SLA's handlers: start clocks on ticket creation, record assignments in the history."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.consumer import HandlerContext
from tierline_shared.bus.events import (
    SlaClockStarted,
    TicketAssigned,
    TicketCreated,
    TicketStatusChanged,
)
from tierline_shared.runtime import Runtime
from tierline_sla.models import clocks, history
from tierline_sla.policy import CLOCKS, SlaPolicy


async def _record(ctx: HandlerContext, detail: dict[str, Any]) -> None:
    env = ctx.envelope
    await ctx.session.execute(insert(history).values(
        ticket_id=env.event.ticket_id, event_id=env.id, event_type=env.type, at=env.time,
        detail=detail))


async def on_ticket_created(runtime: Runtime, ctx: HandlerContext) -> None:
    event = ctx.envelope.event
    assert isinstance(event, TicketCreated)
    policy: SlaPolicy = runtime.state["sla_policy"]
    for clock in CLOCKS:
        due_at, target = policy.due(event.priority, clock, event.created_at)
        started = await ctx.session.scalar(pg_insert(clocks).values(
            ticket_id=event.ticket_id, clock=clock, priority=event.priority, status="running",
            started_at=event.created_at, due_at=due_at, target_seconds=target,
        ).on_conflict_do_nothing().returning(clocks.c.clock))
        if started is not None:
            await ctx.emit(runtime.topics.sla, runtime.envelope(SlaClockStarted(
                ticket_id=event.ticket_id, clock=clock, priority=event.priority,
                started_at=event.created_at, due_at=due_at, target_seconds=target)))
    await _record(ctx, {"priority": event.priority, "clocks_started": list(CLOCKS)})


async def on_ticket_assigned(runtime: Runtime, ctx: HandlerContext) -> None:
    event = ctx.envelope.event
    assert isinstance(event, TicketAssigned)
    await _record(ctx, {"agent_id": event.agent_id, "assigned_at": event.assigned_at.isoformat()})


async def read_clocks(session: AsyncSession, ticket_id: UUID) -> tuple[list[Any], list[Any]]:
    rows = (await session.execute(select(clocks).where(clocks.c.ticket_id == ticket_id)
                                  .order_by(clocks.c.clock))).all()
    events = (await session.execute(select(history).where(history.c.ticket_id == ticket_id)
                                    .order_by(history.c.id))).all()
    return rows, events


async def _stop(ctx: HandlerContext, clock: str) -> str | None:
    """Stop a running clock at the event's time: met if on time, else breached."""
    event = ctx.envelope.event
    assert isinstance(event, TicketStatusChanged)
    row = (await ctx.session.execute(select(clocks).where(
        clocks.c.ticket_id == event.ticket_id, clocks.c.clock == clock,
        clocks.c.status == "running").with_for_update())).first()
    if row is None:
        return None
    outcome = "met" if event.changed_at <= row.due_at else "breached"
    await ctx.session.execute(update(clocks).where(
        clocks.c.ticket_id == event.ticket_id, clocks.c.clock == clock).values(
        status=outcome, stopped_at=event.changed_at))
    return outcome


async def on_status_changed(runtime: Runtime, ctx: HandlerContext) -> None:
    """The first move out of new is the first response; resolution stops the resolution
    clock, and a reopen starts it running again (business calendars and pauses come with
    the SLA issue)."""
    event = ctx.envelope.event
    assert isinstance(event, TicketStatusChanged)
    detail: dict[str, Any] = {"from": event.from_status, "to": event.to_status}
    if event.from_status == "new":
        detail["first_response"] = await _stop(ctx, "first_response")
    if event.to_status == "resolved":
        detail["resolution"] = await _stop(ctx, "resolution")
    elif event.to_status == "reopened":
        await ctx.session.execute(update(clocks).where(
            clocks.c.ticket_id == event.ticket_id, clocks.c.clock == "resolution").values(
            status="running", stopped_at=None))
        detail["resolution"] = "running"
    await _record(ctx, {k: v for k, v in detail.items() if v is not None})
