"""Following who works a desk's ticket and what they write there: when a desk payload shows
a new assignee, or puts the ticket in progress, router hears of it
(``TicketDeskAssigneeChanged``) with the desk's own user id and the connection, which router
maps to an agent; a work note or comment in the payload becomes the ticket's comment (once:
the same text by the same author is not added twice, and Tierline's own notes, written back,
are not taken in again). Runs in the ingest's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.domain import ExternalTicket, plain_text
from tierline_intake.desks.writeback import connection_for
from tierline_intake.models import external_tickets, history
from tierline_intake.tickets.audit import audit_added
from tierline_intake.tickets.recorder import emit_ticket_event, record_history
from tierline_shared.bus.events import TicketCommented, TicketDeskAssigneeChanged
from tierline_shared.runtime import Runtime

OWN_NOTE = "Tierline assigned this to "


@dataclass(frozen=True)
class Note:
    author: str
    text: str
    public: bool


def _str(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("value") or value.get("display_value")
    return str(value).strip() if value not in (None, "") else ""


def notes_in(system: str, payload: dict[str, Any]) -> list[Note]:
    """The work notes and comments a desk payload carries: ServiceNow's ``work_notes``
    (internal) and ``comments`` (customer-visible) as a business rule sends them, Jira's
    ``comment`` of ``comment_created`` / ``jira:issue_updated`` webhooks (``jsdPublic``
    false is internal), Zendesk's ``ticket.comment_added`` event (``is_public``). Pure."""
    out: list[Note] = []
    if system == "servicenow":
        record = payload.get("result", payload)
        who = _str(record.get("sys_updated_by")) or "servicenow"
        for field, public in (("work_notes", False), ("comments", True)):
            text = _str(record.get(field))
            if text:
                out.append(Note(who, text, public))
    elif system == "jira" and isinstance(payload.get("comment"), dict):
        comment = payload["comment"]
        author = comment.get("author") or {}
        text = plain_text(comment.get("body")) if comment.get("body") else ""
        if text:
            out.append(Note(str(author.get("accountId") or author.get("displayName")
                                or "jira"), text, comment.get("jsdPublic", True) is not False))
    elif system == "zendesk" and isinstance(payload.get("event"), dict):
        comment = payload["event"].get("comment")
        if isinstance(comment, dict) and _str(comment.get("body")):
            author = comment.get("author") or {}
            out.append(Note(str(author.get("id") or "zendesk"), _str(comment["body"]),
                            comment.get("is_public", True) is not False))
    return [n for n in out if not n.text.startswith(OWN_NOTE)]


async def follow_notes(runtime: Runtime, session: AsyncSession, row: dict[str, Any],
                       system: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    changes = []
    for note in notes_in(system, payload):
        text, author = note.text[:20000], f"{system}:{note.author}"[:200]
        seen = await session.scalar(select(history.c.id).where(
            history.c.ticket_id == row["id"], history.c.kind == "commented",
            history.c.actor == author, history.c.detail["text"].astext == text).limit(1))
        if seen is not None:
            continue
        await record_history(runtime, session, row["id"], "commented", author,
                             {"text": text, "public": note.public, "from": system})
        await audit_added(runtime, session, row["id"], "commented", "comment",
                          {"author": author, "text": text, "public": note.public})
        await emit_ticket_event(runtime, session, row["ticket_type"], TicketCommented(
            ticket_id=row["id"], author=author, public=note.public, text=text,
            commented_at=runtime.clock.now()))
        changes.append({"field": "comment", "applied": True, "public": note.public})
    return changes


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
    await emit_ticket_event(runtime, session, row["ticket_type"], TicketDeskAssigneeChanged(
        ticket_id=row["id"], connection=conn.name, system=ext.system,
        desk_user=ext.assignee, in_progress=row["status"] == "in_progress",
        changed_at=runtime.clock.now()))
    return [{"field": "assignee", "applied": True, "to": ext.assignee,
             "connection": conn.name}]
