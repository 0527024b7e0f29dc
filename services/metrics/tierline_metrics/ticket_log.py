"""The ticket event log: every event a KPI fold needs, stored as published, and read back
into folded tickets for a period."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.kpi.tickets import Ticket, event_time, fold_ticket, staffed_seconds
from tierline_metrics.models import presence_log, ticket_facts, ticket_log
from tierline_shared.bus.events import (
    EVENT_TYPES,
    AgentPresenceChanged,
    Event,
    SlaBreached,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketEscalated,
    TicketEvent,
    TicketOfferAnswered,
    TicketPriorityChanged,
    TicketQueued,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import Delivered, EachHandler, Handlers
from tierline_shared.unit_of_work import UnitOfWork

LOGGED: tuple[type[Event], ...] = (
    TicketCreated, TicketStatusChanged, TicketPriorityChanged, TicketAssigned,
    TicketOfferAnswered, TicketQueued, TicketEscalated, SlaBreached, SurveyAnswered)


async def log_event(uow: UnitOfWork, d: Delivered[TicketEvent]) -> None:
    event = d.event
    await uow.session.execute(pg_insert(ticket_log).values(
        event_id=d.envelope.id, ticket_id=event.ticket_id, event_type=event.event_type,
        at=event_time(event) or d.envelope.time, body=event.model_dump(mode="json"),
    ).on_conflict_do_nothing())


def logged(handler: EachHandler[Any] | None) -> EachHandler[Any]:
    """``handler`` (if any) and then the log entry, in the same transaction."""

    async def both(uow: UnitOfWork, d: Delivered[Any]) -> None:
        if handler is not None:
            await handler(uow, d)
        await log_event(uow, d)

    return both


def with_log(handlers: dict[type[Event], EachHandler[Any]]) -> Handlers:
    out = dict(handlers)
    for model in LOGGED:
        out[model] = logged(handlers.get(model))
    registry = Handlers()
    for model, handler in out.items():
        registry.each(model, handler)
    return registry


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
