"""How every sla feature records what it did to a ticket: an entry in the ticket's SLA
history and, for what others must hear of, an event on the sla topic (through the outbox,
in the caller's transaction)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import Event, TicketEvent
from tierline_shared.bus.handlers import Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork, add_row
from tierline_sla.models import history


async def add_history(session: AsyncSession, ticket_id: UUID, envelope: Envelope,
                      detail: dict[str, Any]) -> None:
    await add_row(session, history, dict(
        ticket_id=ticket_id, event_id=envelope.id, event_type=envelope.type, at=envelope.time,
        detail=detail))


async def emit(runtime: Runtime, session: AsyncSession, event: Event,
               ticket_id: UUID | None = None, detail: dict[str, Any] | None = None) -> Envelope:
    """Publish an event on the sla topic (through the outbox) and, for a ticket, keep it in
    the ticket's SLA history."""
    envelope = runtime.envelope(event)
    await runtime.emit(session, runtime.topics.sla, envelope)
    if ticket_id is not None:
        await add_history(session, ticket_id, envelope, detail or {})
    return envelope


async def record(uow: UnitOfWork, d: Delivered[TicketEvent], detail: dict[str, Any]) -> None:
    """Keep a consumed ticket event in the ticket's SLA history, with what sla made of it."""
    await add_history(uow.session, d.event.ticket_id, d.envelope, detail)
