"""SLA clocks in PostgreSQL: each clock is folded from its events (:mod:`.domain`), stored
and its timers armed, so it can always be recomputed exactly; a run of ticket events keeps
its tickets' clocks in memory and writes them once (:mod:`.run`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.events import SlaClockStarted
from tierline_shared.runtime import Runtime
from tierline_shared.sla_policy import DEFAULT_PROFILE
from tierline_shared.unit_of_work import UnitOfWork
from tierline_sla.clocks.domain import ClockEvent, ClockState
from tierline_sla.clocks.run import ClockRun
from tierline_sla.context import sla_context
from tierline_sla.models import clock_events, clocks, history


async def load_events(session: AsyncSession, ticket_id: UUID, clock: str) -> list[ClockEvent]:
    rows = (await session.execute(
        select(clock_events.c.at, clock_events.c.kind, clock_events.c.priority)
        .where(clock_events.c.ticket_id == ticket_id, clock_events.c.clock == clock)
        .order_by(clock_events.c.at, clock_events.c.id))).all()
    return [ClockEvent(at, kind, priority) for at, kind, priority in rows]


async def clock_profile(session: AsyncSession, ticket_id: UUID) -> str:
    profile = await session.scalar(select(clocks.c.profile).where(clocks.c.ticket_id == ticket_id)
                                   .limit(1))
    return profile or DEFAULT_PROFILE


def clock_run(runtime: Runtime, session: AsyncSession) -> ClockRun:
    context = sla_context(runtime)
    return ClockRun(session, context.sla_policy, context.escalation_policy)


async def start_clock(runtime: Runtime, uow: UnitOfWork, run: ClockRun, ticket_id: UUID,
                       clock: str, at: datetime, priority: str,
                       profile: str) -> ClockState | None:
    state = run.apply(ticket_id, clock, "start", at, priority, profile)
    if state is not None and state.due_at is not None:
        uow.emit(runtime.topics.sla, runtime.envelope(SlaClockStarted(
            ticket_id=ticket_id, clock=clock, priority=priority, started_at=at,
            due_at=state.due_at, target_seconds=state.target_seconds)))
    return state


async def read_clocks(session: AsyncSession, ticket_id: UUID) -> tuple[list[Any], list[Any]]:
    rows = (await session.execute(select(clocks).where(clocks.c.ticket_id == ticket_id)
                                  .order_by(clocks.c.clock))).all()
    events = (await session.execute(select(history).where(history.c.ticket_id == ticket_id)
                                    .order_by(history.c.id))).all()
    return rows, events
