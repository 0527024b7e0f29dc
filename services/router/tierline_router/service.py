"""Router's I/O around the matcher: lock candidates, place or queue, emit the decision."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.matcher import GENERALIST_SKILL, TRIAGE_SKILL, AgentView, Need, choose
from tierline_router.models import agents, assignments, queue
from tierline_shared.bus.consumer import HandlerContext
from tierline_shared.bus.events import (
    TicketAssigned,
    TicketCreated,
    TicketPriorityChanged,
    TicketQueued,
    TicketStatusChanged,
)
from tierline_shared.runtime import Runtime

log = logging.getLogger(__name__)


async def _candidates(session: AsyncSession, need: Need) -> list[AgentView]:
    """Available agents with the skill, locked so no other replica overfills them."""
    skilled = agents.c.skills.has_key(need.category)
    if need.generalist_ok:
        skilled = or_(skilled, agents.c.skills.has_key(GENERALIST_SKILL))
    rows = (await session.execute(
        select(agents)
        .where(agents.c.presence == "available", skilled)
        .order_by(agents.c.id)
        .with_for_update()
    )).all()
    if not rows:
        return []
    loads: dict[str, dict[str, int]] = {}
    for agent_id, channel, count in (await session.execute(
        select(assignments.c.agent_id, assignments.c.channel, func.count())
        .where(assignments.c.status == "active",
               assignments.c.agent_id.in_([row.id for row in rows]))
        .group_by(assignments.c.agent_id, assignments.c.channel)
    )).all():
        loads.setdefault(agent_id, {})[channel] = count
    return [AgentView(id=row.id, tier=row.tier, skills=row.skills, channels=row.channels,
                      max_total=row.max_total, presence=row.presence,
                      active_by_channel=loads.get(row.id, {}),
                      last_assigned_at=row.last_assigned_at) for row in rows]


async def place(runtime: Runtime, session: AsyncSession, *, ticket_id: UUID, priority: str,
                category: str, channel: str, triage: bool = False) -> str | None:
    """Assign the ticket if someone fits; returns the agent id, or None."""
    need = Need.triage(channel) if triage else Need(category=category, channel=channel)
    decision = choose(need, await _candidates(session, need))
    if decision.agent is None:
        return None
    now = runtime.clock.now()
    reasons = decision.reasons()
    await session.execute(pg_insert(assignments).values(
        ticket_id=ticket_id, agent_id=decision.agent.id, status="active", channel=channel,
        priority=priority, category=category, assigned_at=now, reasons=reasons))
    await session.execute(update(agents).where(agents.c.id == decision.agent.id)
                          .values(last_assigned_at=now))
    event = TicketAssigned(ticket_id=ticket_id, agent_id=decision.agent.id,
                           agent_tier=decision.agent.tier, priority=priority,
                           category=category, channel=channel, assigned_at=now,
                           reasons=reasons)
    await runtime.emit(session, runtime.topics.routing, runtime.envelope(event))
    log.info("ticket assigned", extra={"ticket_id": str(ticket_id), "agent_id": decision.agent.id})
    return decision.agent.id


async def on_ticket_created(runtime: Runtime, ctx: HandlerContext) -> None:
    event = ctx.envelope.event
    assert isinstance(event, TicketCreated)
    session = ctx.session
    if await session.scalar(select(assignments.c.ticket_id)
                            .where(assignments.c.ticket_id == event.ticket_id)):
        return
    agent_id = await place(runtime, session, ticket_id=event.ticket_id, priority=event.priority,
                           category=event.category, channel=event.channel,
                           triage=event.needs_triage)
    if agent_id is not None:
        return
    now = runtime.clock.now()
    skill = TRIAGE_SKILL if event.needs_triage else event.category
    reason = f"no available agent with skill {skill!r} and free {event.channel} capacity"
    inserted = await session.scalar(pg_insert(queue).values(
        ticket_id=event.ticket_id, priority=event.priority, category=event.category,
        channel=event.channel, queued_at=now, reason=reason, triage=event.needs_triage,
    ).on_conflict_do_nothing().returning(queue.c.ticket_id))
    if inserted is not None:
        await ctx.emit(runtime.topics.routing, runtime.envelope(TicketQueued(
            ticket_id=event.ticket_id, priority=event.priority, category=event.category,
            queued_at=now, reason=reason)))
        log.info("ticket queued", extra={"ticket_id": str(event.ticket_id), "reason": reason})


async def on_status_changed(runtime: Runtime, ctx: HandlerContext) -> None:
    """Resolved or closed work frees the agent's capacity at once; a reopened ticket goes
    back to the agent who had it."""
    event = ctx.envelope.event
    assert isinstance(event, TicketStatusChanged)
    session = ctx.session
    if event.to_status in ("resolved", "closed"):
        released = await session.scalar(
            update(assignments).where(assignments.c.ticket_id == event.ticket_id,
                                      assignments.c.status == "active")
            .values(status="released").returning(assignments.c.agent_id))
        await session.execute(delete(queue).where(queue.c.ticket_id == event.ticket_id))
        if released is not None:
            await drain_queue(runtime, session)
    elif event.to_status == "reopened":
        await session.execute(
            update(assignments).where(assignments.c.ticket_id == event.ticket_id)
            .values(status="active"))


async def on_priority_changed(runtime: Runtime, ctx: HandlerContext) -> None:
    """Waiting work moves to its new place in the queue; the assignment records it."""
    event = ctx.envelope.event
    assert isinstance(event, TicketPriorityChanged)
    await ctx.session.execute(update(queue).where(queue.c.ticket_id == event.ticket_id)
                              .values(priority=event.to_priority))
    await ctx.session.execute(update(assignments)
                              .where(assignments.c.ticket_id == event.ticket_id)
                              .values(priority=event.to_priority))


async def drain_queue(runtime: Runtime, session: AsyncSession, limit: int = 500) -> int:
    """Place waiting tickets, highest priority then oldest first; returns how many."""
    waiting = (await session.execute(
        select(queue).order_by(queue.c.priority, queue.c.queued_at).limit(limit)
        .with_for_update(skip_locked=True)
    )).all()
    placed = 0
    for row in waiting:
        agent_id = await place(runtime, session, ticket_id=row.ticket_id, priority=row.priority,
                               category=row.category, channel=row.channel, triage=row.triage)
        if agent_id is not None:
            await session.execute(delete(queue).where(queue.c.ticket_id == row.ticket_id))
            placed += 1
    return placed


async def get_assignment(session: AsyncSession, ticket_id: UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(assignments)
                                 .where(assignments.c.ticket_id == ticket_id))).first()
    return dict(row._mapping) if row is not None else None


async def is_queued(session: AsyncSession, ticket_id: UUID) -> bool:
    return bool(await session.scalar(select(queue.c.ticket_id)
                                     .where(queue.c.ticket_id == ticket_id)))
