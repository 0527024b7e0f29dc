"""Router's event handlers: one per event type it consumes, each in the consumer's
transaction."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tierline_router.models import assignments, history, queue, tickets
from tierline_router.routing.placement import (
    locked_ticket,
    offer_waiting_to,
    policy,
    record,
    release,
    route,
)
from tierline_router.routing.rules import effective_rank
from tierline_router.work.service import move, reopen, set_presence
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    ReassignmentRequested,
    SlaClockStarted,
    TicketCreated,
    TicketEscalated,
    TicketPriorityChanged,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork


async def on_ticket_created(runtime: Runtime, uow: UnitOfWork, d: Delivered[TicketCreated]) -> None:
    e = d.event
    session, now = uow.session, runtime.clock.now()
    inserted = (await session.execute(pg_insert(tickets).values(
        ticket_id=e.ticket_id, ticket_type=e.ticket_type, priority=e.priority,
        category=e.category, subcategory=e.subcategory, channel=e.channel,
        language=e.language, plan=e.plan, vip=e.vip, triage=e.needs_triage,
        deflected=e.deflected, status="new", declined_by=[], attempts=0,
        created_at=e.created_at,
    ).on_conflict_do_nothing().returning(tickets))).first()
    if inserted is None:
        return
    if e.deflected:
        await record(session, e.ticket_id, now, "deflected", None,
                     reason="resolved by self-service (tier 0); never routed to an agent")
        return
    await route(runtime, session, e.ticket_id, now, trigger="ticket created", inserted=inserted)


async def on_status_changed(runtime: Runtime, uow: UnitOfWork,
                            d: Delivered[TicketStatusChanged]) -> None:
    """Resolved or closed work frees the agent's capacity and offers them waiting work at
    once; a reopened ticket goes back to its agent, or elsewhere if they cannot take it."""
    e = d.event
    session, now = uow.session, runtime.clock.now()
    if await locked_ticket(session, e.ticket_id) is None:
        return
    await session.execute(update(tickets).where(tickets.c.ticket_id == e.ticket_id)
                          .values(status=e.to_status))
    if e.to_status in ("resolved", "closed"):
        await session.execute(delete(queue).where(queue.c.ticket_id == e.ticket_id))
        released = await release(runtime, session, e.ticket_id, now, None)
        if released is not None:
            await offer_waiting_to(runtime, session, released.agent_id, now,
                                   "capacity freed by a resolution")
    elif e.to_status == "reopened":
        await reopen(runtime, session, e.ticket_id, now)


async def on_priority_changed(runtime: Runtime, uow: UnitOfWork,
                              d: Delivered[TicketPriorityChanged]) -> None:
    """Waiting work moves to its new place in the queue; the assignment records it."""
    e = d.event
    session, now = uow.session, runtime.clock.now()
    if await locked_ticket(session, e.ticket_id) is None:
        return
    await session.execute(update(tickets).where(tickets.c.ticket_id == e.ticket_id)
                          .values(priority=e.to_priority))
    queued_at = await session.scalar(select(queue.c.queued_at)
                                     .where(queue.c.ticket_id == e.ticket_id))
    if queued_at is not None:
        rank = effective_rank(policy(runtime), e.to_priority, (now - queued_at).total_seconds())
        await session.execute(update(queue).where(queue.c.ticket_id == e.ticket_id)
                              .values(priority=e.to_priority, eff_rank=rank))
    await session.execute(update(assignments).where(assignments.c.ticket_id == e.ticket_id)
                          .values(priority=e.to_priority))


async def on_escalated(runtime: Runtime, uow: UnitOfWork, d: Delivered[TicketEscalated]) -> None:
    e = d.event
    if e.kind != "functional" or e.trigger == "agent":
        return  # an agent's own request reached router directly, as reassignment_requested
    await move(runtime, uow.session, e.ticket_id, runtime.clock.now(), to_tier=e.to_tier,
               to_skill=e.to_skill, trigger=f"sla escalation ({e.trigger}, {e.rule})",
               reason=e.reason)


async def on_reassignment_requested(runtime: Runtime, uow: UnitOfWork,
                                    d: Delivered[ReassignmentRequested]) -> None:
    e = d.event
    await move(runtime, uow.session, e.ticket_id, runtime.clock.now(), to_tier=e.to_tier,
               to_skill=e.to_skill, trigger=f"reassignment requested by {e.requested_by}",
               reason=e.reason)


async def on_clock_started(runtime: Runtime, uow: UnitOfWork,
                           d: Delivered[SlaClockStarted]) -> None:
    """The resolution clock's due time orders waiting work of equal earned priority."""
    e = d.event
    if e.clock != "resolution":
        return
    session = uow.session
    if await locked_ticket(session, e.ticket_id) is None:
        return
    await session.execute(update(tickets).where(tickets.c.ticket_id == e.ticket_id)
                          .values(sla_due_at=e.due_at))
    await session.execute(update(queue).where(queue.c.ticket_id == e.ticket_id)
                          .values(sla_due_at=e.due_at))


async def on_presence_reported(runtime: Runtime, uow: UnitOfWork,
                               d: Delivered[AgentPresenceChanged]) -> None:
    """Presence pushed onto the agents topic by a telephony or chat platform; router's own
    presence events on that topic are its record, not news."""
    e = d.event
    if d.envelope.source == runtime.source:
        return
    await set_presence(runtime, uow.session, e.agent_id, e.presence, runtime.clock.now())


MajorIncidentEvent = MajorIncidentDeclared | MajorIncidentTicketLinked


async def on_major_incident(runtime: Runtime, uow: UnitOfWork,
                            d: Delivered[MajorIncidentEvent]) -> None:
    """A ticket became the child of a major incident: its routing history says so, so
    whoever holds it knows the incident manager now leads the restoration."""
    e = d.event
    ticket_ids = e.ticket_ids if isinstance(e, MajorIncidentDeclared) else [e.ticket_id]
    mi = str(e.major_incident_id)
    for ticket_id in ticket_ids:
        if await locked_ticket(uow.session, ticket_id) is None:
            continue
        await uow.flush()  # history rows held for commit must count as known too
        known = await uow.session.scalar(select(history.c.id).where(
            history.c.ticket_id == ticket_id, history.c.action == "major_incident",
            history.c.detail["major_incident_id"].astext == mi))
        if known is None:
            await record(uow.session, ticket_id, runtime.clock.now(), "major_incident", None,
                         major_incident_id=mi)
