"""Folding events into the ticket facts; each handler upserts its own columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tierline_metrics.models import presence_log, ticket_facts
from tierline_shared.bus.consumer import HandlerContext
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    SlaClockStarted,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketQueued,
    TicketStatusChanged,
)


async def _upsert(ctx: HandlerContext, values: dict[str, Any]) -> None:
    ticket_id = ctx.envelope.event.ticket_id
    await ctx.session.execute(
        pg_insert(ticket_facts).values(ticket_id=ticket_id, **values)
        .on_conflict_do_update(index_elements=[ticket_facts.c.ticket_id], set_=values))


async def on_ticket_created(ctx: HandlerContext) -> None:
    e = ctx.envelope.event
    assert isinstance(e, TicketCreated)
    await _upsert(ctx, {"ticket_type": e.ticket_type, "channel": e.channel,
                        "created_priority": e.priority, "created_category": e.category,
                        "created_at": e.created_at, "deflected": e.deflected})


async def on_ticket_assigned(ctx: HandlerContext) -> None:
    e = ctx.envelope.event
    assert isinstance(e, TicketAssigned)
    await _upsert(ctx, {"assigned_priority": e.priority, "assigned_category": e.category,
                        "agent_id": e.agent_id, "assigned_at": e.assigned_at})


async def on_ticket_queued(ctx: HandlerContext) -> None:
    e = ctx.envelope.event
    assert isinstance(e, TicketQueued)
    await _upsert(ctx, {"queued_at": e.queued_at})


async def on_clock_started(ctx: HandlerContext) -> None:
    e = ctx.envelope.event
    assert isinstance(e, SlaClockStarted)
    await _upsert(ctx, {f"{e.clock}_due_at": e.due_at})


async def on_status_changed(ctx: HandlerContext) -> None:
    e = ctx.envelope.event
    assert isinstance(e, TicketStatusChanged)
    await _upsert(ctx, {"status": e.to_status})
    if e.from_status == "new" and e.to_status != "new":
        await ctx.session.execute(
            pg_insert(ticket_facts).values(ticket_id=e.ticket_id, first_response_at=e.changed_at)
            .on_conflict_do_update(index_elements=[ticket_facts.c.ticket_id], set_={
                "first_response_at": func.coalesce(ticket_facts.c.first_response_at,
                                                   e.changed_at)}))
    if e.to_status == "resolved":
        await _upsert(ctx, {"resolved_at": e.changed_at})
    elif e.to_status == "closed":
        await _upsert(ctx, {"closed_at": e.changed_at, "closed_by": e.closed_by})
    elif e.to_status == "reopened":
        await ctx.session.execute(update(ticket_facts)
                                  .where(ticket_facts.c.ticket_id == e.ticket_id)
                                  .values(reopen_count=ticket_facts.c.reopen_count + 1))


async def on_survey_answered(ctx: HandlerContext) -> None:
    e = ctx.envelope.event
    assert isinstance(e, SurveyAnswered)
    await _upsert(ctx, {e.kind: e.score})


async def on_presence_changed(ctx: HandlerContext) -> None:
    e = ctx.envelope.event
    assert isinstance(e, AgentPresenceChanged)
    await ctx.session.execute(pg_insert(presence_log).values(
        agent_id=e.agent_id, at=e.changed_at, presence=e.presence).on_conflict_do_nothing())
