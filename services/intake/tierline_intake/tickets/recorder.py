"""Intake's ticket recorder: how every feature records a change to a ticket, in the
caller's transaction: its history entry, its events (with their outbound webhooks), and a
status transition with its audit entry. Tickets, interactions, adapters, desks and the
knowledge base all record through these, so none reaches into another's private names."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.context import intake_context
from tierline_intake.models import history, tickets
from tierline_intake.tickets import lifecycle
from tierline_intake.tickets.audit import audit_ticket, snapshot
from tierline_shared.bus.events import Event, SurveyRequested, TicketStatusChanged
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import add_row


async def record_history(runtime: Runtime, session: AsyncSession, ticket_id: UUID, kind: str,
                         actor: str | None, detail: dict[str, Any]) -> dict[str, Any]:
    """A history entry for the ticket, written with the unit of work's rows at commit."""
    entry = {"ticket_id": ticket_id, "kind": kind, "actor": actor, "at": runtime.clock.now(),
             "detail": detail}
    await add_row(session, history, entry)
    return {k: v for k, v in entry.items() if k != "ticket_id"}


async def emit_ticket_event(runtime: Runtime, session: AsyncSession, ticket_type: str,
                            event: Event) -> None:
    """The event on the ticket type's topic, and its outbound webhooks, in the same
    transaction."""
    envelope = runtime.envelope(event)
    await runtime.emit(session, runtime.topics.for_type(ticket_type), envelope)
    await intake_context(runtime).webhooks.enqueue(session, envelope)  # same transaction


async def transition(runtime: Runtime, session: AsyncSession, row: dict[str, Any],
                     move: lifecycle.Transition, *, actor: str | None, note: str | None = None,
                     resolution_notes: str | None = None) -> dict[str, Any]:
    """Move the ticket to another status: the row, its audit entry, its history entry and
    its events (a survey request on resolution)."""
    now = runtime.clock.now()
    changes: dict[str, Any] = {"status": move.to_status, "updated_at": now}
    if move.to_status == "resolved":
        changes["resolved_at"] = now
    if move.to_status == "closed":
        changes.update(closed_at=now, closed_by=move.closed_by)
    if move.to_status == "reopened":
        changes.update(reopen_count=row["reopen_count"] + 1, resolved_at=None)
    await session.execute(update(tickets).where(tickets.c.id == row["id"]).values(**changes))
    before = snapshot(row)
    row.update(changes)
    await audit_ticket(runtime, session, row["id"], "status_changed", before,
                       {**snapshot(row), "resolution_notes": resolution_notes})
    detail = {"from": move.from_status, "to": move.to_status, "auto": move.auto,
              "closed_by": move.closed_by, "note": note, "resolution_notes": resolution_notes}
    entry = await record_history(runtime, session, row["id"], "status_changed", actor,
                                 {k: v for k, v in detail.items() if v is not None})
    await emit_ticket_event(runtime, session, row["ticket_type"], TicketStatusChanged(
        ticket_id=row["id"], ticket_type=row["ticket_type"], from_status=move.from_status,
        to_status=move.to_status, actor=actor, note=note, resolution_notes=resolution_notes,
        auto=move.auto, closed_by=move.closed_by, priority=row["priority"],
        category=row["category"], channel=row["channel"], changed_at=now))
    if move.to_status == "resolved":
        await emit_ticket_event(runtime, session, row["ticket_type"], SurveyRequested(
            ticket_id=row["id"], requester_id=row["requester"]["id"], channel=row["channel"],
            requested_at=now))
    return entry
