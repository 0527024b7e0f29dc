"""Router's decisions reaching the ticket: offered, accepted, let go, queued. Each consumer
handler locks the ticket's row, applies the fact with :mod:`tierline_intake.tickets.routing`
and, when it changes something, writes the routing fields and an audit entry (actor
``system:intake``) in the batch's transaction. A stale or repeated fact writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from tierline_intake.models import tickets
from tierline_intake.tickets.audit import audit_ticket
from tierline_intake.tickets.routing import Routing, audit_action
from tierline_shared.bus.events import TicketAssigned, TicketOfferAnswered, TicketQueued
from tierline_shared.bus.handlers import Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork

_COLUMNS = (tickets.c.routing_state, tickets.c.offered_agent, tickets.c.offered_tier,
            tickets.c.offer_expires_at, tickets.c.assigned_agent, tickets.c.assigned_tier,
            tickets.c.routing_attempt, tickets.c.routing_at)
AUDITED = ("routing_state", "offered_agent", "offered_tier", "assigned_agent",
           "assigned_tier")


def to_domain(row: Any) -> Routing:
    return Routing(state=row.routing_state, offered_agent=row.offered_agent,
                   offered_tier=row.offered_tier, offer_expires_at=row.offer_expires_at,
                   assigned_agent=row.assigned_agent, assigned_tier=row.assigned_tier,
                   attempt=row.routing_attempt or 0, at=row.routing_at)


def from_domain(r: Routing) -> dict[str, Any]:
    return {"routing_state": r.state, "offered_agent": r.offered_agent,
            "offered_tier": r.offered_tier, "offer_expires_at": r.offer_expires_at,
            "assigned_agent": r.assigned_agent, "assigned_tier": r.assigned_tier,
            "routing_attempt": r.attempt, "routing_at": r.at}


async def _apply(runtime: Runtime, uow: UnitOfWork, ticket_id: UUID, action: str,
                 fact: Callable[[Routing], Routing | None]) -> None:
    row = (await uow.session.execute(select(*_COLUMNS).where(tickets.c.id == ticket_id)
                                     .with_for_update())).first()
    if row is None:
        return
    before = to_domain(row)
    after = fact(before)
    if after is None:
        return
    old, new = from_domain(before), from_domain(after)
    await uow.session.execute(update(tickets).where(tickets.c.id == ticket_id).values(**new))
    await audit_ticket(runtime, uow.session, ticket_id, action,
                       {k: old[k] for k in AUDITED}, {k: new[k] for k in AUDITED})


async def on_assigned(runtime: Runtime, uow: UnitOfWork, d: Delivered[TicketAssigned]) -> None:
    """Router offered the ticket to an agent: the offer waits on them, nobody holds it."""
    e = d.event
    await _apply(runtime, uow, e.ticket_id, audit_action("offered"), lambda r: r.offered(
        e.agent_id, e.agent_tier, e.attempt, e.assigned_at, e.offer_expires_at))


async def on_offer_answered(runtime: Runtime, uow: UnitOfWork,
                            d: Delivered[TicketOfferAnswered]) -> None:
    """The agent accepted (they hold the ticket now) or the offer or holding ended."""
    e = d.event
    await _apply(runtime, uow, e.ticket_id, audit_action("answered", e.outcome),
                 lambda r: r.answered(e.agent_id, e.outcome, e.answered_at, e.attempt))


async def on_queued(runtime: Runtime, uow: UnitOfWork, d: Delivered[TicketQueued]) -> None:
    """The ticket waits in router's queue: no agent is offered it or holds it."""
    e = d.event
    await _apply(runtime, uow, e.ticket_id, audit_action("queued"),
                 lambda r: r.queued(e.queued_at, e.attempt))
