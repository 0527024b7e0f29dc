"""SLA's handlers: start clocks on ticket creation, record assignments in the history."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.consumer import HandlerContext
from tierline_shared.bus.events import SlaClockStarted, TicketAssigned, TicketCreated
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
