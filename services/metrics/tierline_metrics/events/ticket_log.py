"""The ticket event log: every event a KPI fold needs, stored as published, and read back
into folded tickets for a period."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.kpi.tickets import Ticket, fold_ticket, staffed_seconds
from tierline_metrics.models import presence_log, ticket_facts, ticket_log
from tierline_shared.bus.events import (
    EVENT_TYPES,
    AgentPresenceChanged,
    Event,
)


async def load(session: AsyncSession, start: datetime, end: datetime,
               window: timedelta) -> tuple[list[Ticket], dict[str, float]]:
    """The tickets a report on [start, end) needs, folded (those created within ``window``
    around it, for repeat contacts, and those resolved in it, for the cost per ticket), and
    each agent's staffed seconds in it."""
    f = ticket_facts.c
    ids = select(f.ticket_id).where(or_(
        f.created_at.between(start - window, end + window),
        (f.resolved_at >= start) & (f.resolved_at < end)))
    rows = (await session.execute(
        select(ticket_log.c.ticket_id, ticket_log.c.event_type, ticket_log.c.body)
        .where(ticket_log.c.ticket_id.in_(ids)).order_by(ticket_log.c.seq))).all()
    by_ticket: dict[UUID, list[Event]] = defaultdict(list)
    for ticket_id, event_type, body in rows:
        by_ticket[ticket_id].append(EVENT_TYPES[event_type].model_validate(body))
    tickets = [fold_ticket(tid, events) for tid, events in sorted(by_ticket.items())]
    p = presence_log.c
    presence = (await session.execute(
        select(p.agent_id, p.at, p.presence).where(p.at < end))).all()
    changes = [AgentPresenceChanged(agent_id=a, presence=pr, changed_at=at)  # type: ignore[arg-type]
               for a, at, pr in presence]
    return tickets, staffed_seconds(changes, start, end)
