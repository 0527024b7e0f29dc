"""SLA timers: one row per threshold of a running clock, fired once each by whichever
replica locks it first (warnings, breaches, time-based escalations, a major incident's
breach-imminent check)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.events import SlaBreached, SlaWarning
from tierline_shared.runtime import Runtime
from tierline_sla.clocks.domain import fold
from tierline_sla.clocks.service import clock_profile, load_events
from tierline_sla.context import sla_context
from tierline_sla.escalations.domain import TicketView, act, matching_rules, time_reason
from tierline_sla.escalations.service import escalate, ticket_row
from tierline_sla.incidents import service as incidents
from tierline_sla.models import tickets, timers
from tierline_sla.recorder import emit


async def fire_due(runtime: Runtime, limit: int = 500) -> int:
    """Fire the timers that are due, once each: rows are locked with SKIP LOCKED, marked
    fired and their events written to the outbox in one transaction."""
    now = runtime.clock.now()
    async with runtime.transaction() as uow:
        session = uow.session
        due = (await session.execute(
            select(timers).where(timers.c.fired_at.is_(None), timers.c.due_at <= now)
            .order_by(timers.c.due_at).limit(limit).with_for_update(skip_locked=True))).all()
        # Lock the tickets in one order, so a replica firing another of their timers (or a
        # handler escalating them) waits instead of taking the same escalation level.
        await session.execute(select(tickets.c.ticket_id)
                              .where(tickets.c.ticket_id.in_({t.ticket_id for t in due}))
                              .order_by(tickets.c.ticket_id).with_for_update())
        for timer in sorted(due, key=lambda t: (t.ticket_id, t.due_at, t.threshold)):
            await session.execute(update(timers).where(timers.c.id == timer.id)
                                  .values(fired_at=now))
            await _fire(runtime, session, timer, now)
        fired_updates = await incidents.remind_updates(runtime, session, now, limit)
    return len(due) + fired_updates


async def _fire(runtime: Runtime, session: AsyncSession, timer: Any, now: datetime) -> None:
    clock, percent, tid = timer.clock, timer.threshold, timer.ticket_id
    row = await ticket_row(session, tid)
    profile = await clock_profile(session, tid)
    if percent == 100:
        await emit(runtime, session, SlaBreached(
            ticket_id=tid, clock=clock, priority=timer.priority, due_at=timer.due_at,
            target_seconds=timer.target_seconds, at=now), tid,
            {"clock": clock, "due_at": timer.due_at.isoformat()})
    elif percent in sla_context(runtime).sla_policy.warnings_for(profile):
        state = fold(sla_context(runtime).sla_policy, clock, await load_events(session, tid, clock),
                     profile=profile)
        await emit(runtime, session, SlaWarning(
            ticket_id=tid, clock=clock, priority=timer.priority, threshold_percent=percent,
            due_at=state.due_at or timer.due_at, target_seconds=timer.target_seconds, at=now), tid,
            {"clock": clock, "warning_percent": percent})
    if row is None:
        return
    view = TicketView(priority=timer.priority, category=row.category, tier=row.tier)
    for rule in matching_rules(sla_context(runtime).escalation_policy, clock, percent, view):
        escalation = act(rule, rule.name, time_reason(rule, clock, percent, timer.priority), view)
        if escalation is not None:
            await escalate(runtime, session, tid, escalation, "time", now, clock)
    if clock == "resolution":
        await incidents.on_clock_threshold(runtime, session, row, timer, now)
