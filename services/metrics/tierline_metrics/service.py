"""Folding events into the ticket facts; each handler upserts its own columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tierline_metrics.models import presence_log, ticket_facts
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    SlaClockStarted,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketEvent,
    TicketQueued,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.unit_of_work import UnitOfWork


async def _upsert(uow: UnitOfWork, d: Delivered[TicketEvent], values: dict[str, Any]) -> None:
    ticket_id = d.event.ticket_id
    await uow.session.execute(
        pg_insert(ticket_facts).values(ticket_id=ticket_id, **values)
        .on_conflict_do_update(index_elements=[ticket_facts.c.ticket_id], set_=values))


async def on_ticket_created(uow: UnitOfWork, d: Delivered[TicketCreated]) -> None:
    e = d.event
    await _upsert(uow, d, {"ticket_type": e.ticket_type, "channel": e.channel,
                        "created_priority": e.priority, "created_category": e.category,
                        "created_at": e.created_at, "deflected": e.deflected})


async def on_ticket_assigned(uow: UnitOfWork, d: Delivered[TicketAssigned]) -> None:
    e = d.event
    await _upsert(uow, d, {"assigned_priority": e.priority, "assigned_category": e.category,
                        "agent_id": e.agent_id, "assigned_at": e.assigned_at})


async def on_ticket_queued(uow: UnitOfWork, d: Delivered[TicketQueued]) -> None:
    e = d.event
    await _upsert(uow, d, {"queued_at": e.queued_at})


async def on_clock_started(uow: UnitOfWork, d: Delivered[SlaClockStarted]) -> None:
    e = d.event
    await _upsert(uow, d, {f"{e.clock}_due_at": e.due_at})


async def on_status_changed(uow: UnitOfWork, d: Delivered[TicketStatusChanged]) -> None:
    e = d.event
    await _upsert(uow, d, {"status": e.to_status})
    if e.from_status == "new" and e.to_status != "new":
        await uow.session.execute(
            pg_insert(ticket_facts).values(ticket_id=e.ticket_id, first_response_at=e.changed_at)
            .on_conflict_do_update(index_elements=[ticket_facts.c.ticket_id], set_={
                "first_response_at": func.coalesce(ticket_facts.c.first_response_at,
                                                   e.changed_at)}))
    if e.to_status == "resolved":
        await _upsert(uow, d, {"resolved_at": e.changed_at})
    elif e.to_status == "closed":
        await _upsert(uow, d, {"closed_at": e.changed_at, "closed_by": e.closed_by})
    elif e.to_status == "reopened":
        await uow.session.execute(update(ticket_facts)
                                  .where(ticket_facts.c.ticket_id == e.ticket_id)
                                  .values(reopen_count=ticket_facts.c.reopen_count + 1))


async def on_survey_answered(uow: UnitOfWork, d: Delivered[SurveyAnswered]) -> None:
    e = d.event
    await _upsert(uow, d, {e.kind: e.score})


async def on_presence_changed(uow: UnitOfWork, d: Delivered[AgentPresenceChanged]) -> None:
    e = d.event
    await uow.session.execute(pg_insert(presence_log).values(
        agent_id=e.agent_id, at=e.changed_at, presence=e.presence).on_conflict_do_nothing())
