"""Following who works a desk's ticket: when a desk payload shows a new assignee, or puts
the ticket in progress, router hears of it (``TicketDeskAssigneeChanged``) with the desk's
own user id and the connection, which router maps to an agent. Runs in the ingest's
transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters import ExternalTicket
from tierline_intake.desks.writeback import connection_for
from tierline_intake.models import external_tickets
from tierline_intake.service import _emit
from tierline_shared.bus.events import TicketDeskAssigneeChanged
from tierline_shared.runtime import Runtime


async def follow_assignee(runtime: Runtime, session: AsyncSession, row: dict[str, Any],
                          ext: ExternalTicket, known: str | None,
                          connection_id: UUID | None,
                          changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The change to report, if the desk's assignee differs from ``known`` or the payload
    moved the ticket into progress; nothing without an assignee or a connection."""
    started = any(c.get("applied") and c.get("to") == "in_progress" for c in changes)
    if ext.assignee is None or (ext.assignee == known and not started):
        return []
    conn = await connection_for(session, ext.system, connection_id)
    if conn is None:
        return []
    await session.execute(update(external_tickets).where(
        external_tickets.c.system == ext.system,
        external_tickets.c.external_id == ext.external_id).values(
        external_assignee=ext.assignee[:200]))
    await _emit(runtime, session, row["ticket_type"], TicketDeskAssigneeChanged(
        ticket_id=row["id"], connection=conn.name, system=ext.system,
        desk_user=ext.assignee, in_progress=row["status"] == "in_progress",
        changed_at=runtime.clock.now()))
    return [{"field": "assignee", "applied": True, "to": ext.assignee,
             "connection": conn.name}]
