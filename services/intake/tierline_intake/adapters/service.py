"""Ingesting ServiceNow, Jira and Zendesk tickets: the first payload for an external id
logs a Tierline ticket, later ones update that ticket (status, priority), each in the
caller's transaction. A payload seen before, or older than the last one, changes nothing."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.domain import ExternalTicket
from tierline_intake.context import intake_context
from tierline_intake.desks.follow import follow_assignee, follow_notes
from tierline_intake.idempotency import request_hash
from tierline_intake.models import external_tickets, tickets
from tierline_intake.tickets import lifecycle
from tierline_intake.tickets.audit import audit_ticket
from tierline_intake.tickets.recorder import record_history, transition
from tierline_intake.tickets.schemas import TicketIn
from tierline_intake.tickets.service import (
    change_priority,
    get_ticket,
    log_ticket,
    ticket_out,
)
from tierline_shared.pagination import fetch_page, page
from tierline_shared.runtime import Runtime

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _ticket_in(runtime: Runtime, ext: ExternalTicket) -> TicketIn:
    taxonomy = intake_context(runtime).taxonomy
    levels = intake_context(runtime).priority_policy.levels
    requester = {k: v[:200] for k, v in ext.requester.items()
                 if k != "email" or EMAIL.match(v)}
    category = next((c for c in ext.categories if c in taxonomy.categories), None)
    body: dict[str, Any] = {
        "title": ext.title, "description": ext.description[:20000] or ext.title,
        "requester": requester, "channel": ext.channel, "type": ext.ticket_type,
        "category": category,
        "impact": ext.impact if ext.impact in levels else None,
        "urgency": ext.urgency if ext.urgency in levels else None,
        "external_system": ext.system, "external_id": ext.external_id[:200],
    }
    if ext.priority is not None and (body["impact"] is None or body["urgency"] is None):
        body["priority_override"] = {"priority": ext.priority, "by": ext.system,
                                     "reason": ext.priority_source}
    return TicketIn.model_validate(body)


def _external_priority(runtime: Runtime, ext: ExternalTicket) -> tuple[str, str] | None:
    """The priority an update implies: the policy's matrix on the external impact and
    urgency, or else the external priority."""
    policy = intake_context(runtime).priority_policy
    if ext.impact in policy.levels and ext.urgency in policy.levels:
        assert ext.impact is not None and ext.urgency is not None
        return (policy.matrix[ext.impact][ext.urgency],
                f"{ext.system} impact {ext.impact} x urgency {ext.urgency}")
    if ext.priority is not None:
        return ext.priority, ext.priority_source or f"{ext.system} priority"
    return None


async def _follow_status(runtime: Runtime, session: AsyncSession, row: dict[str, Any],
                         ext: ExternalTicket) -> list[dict[str, Any]]:
    """Move the ticket to the status the external system reports; what the lifecycle does
    not allow is reported, not forced."""
    if ext.status is None:
        await record_history(runtime, session, row["id"], "external_status_unmapped", ext.system,
                             {"system": ext.system, "status": ext.external_status})
        return [{"field": "status", "applied": False, "external": ext.external_status,
                 "reason": "unknown external status: kept in external_status"}]
    try:
        moves = lifecycle.follow_external(row["status"], ext.status)
    except lifecycle.TransitionRefused as refused:
        return [{"field": "status", "applied": False, "external": ext.external_status,
                 "to": ext.status, "reason": refused.why, "allowed": list(refused.allowed)}]
    changes = []
    for move in moves:
        notes = None
        if move.to_status == "resolved":
            notes = ext.resolution_notes or f"resolved in {ext.system} ({ext.key})"
        await transition(runtime, session, row, move, actor=ext.system,
                         note=f"{ext.system} status {ext.external_status}",
                         resolution_notes=notes)
        changes.append({"field": "status", "applied": True, "from": move.from_status,
                        "to": move.to_status, "external": ext.external_status})
    return changes


async def _audit_external_status(runtime: Runtime, session: AsyncSession,
                                 row: dict[str, Any], ext: ExternalTicket) -> None:
    await audit_ticket(runtime, session, row["id"], "external_status_changed",
                       {"external_status": row["external_status"]},
                       {"external_status": ext.external_status})
    row["external_status"] = ext.external_status


async def ingest(runtime: Runtime, session: AsyncSession, ext: ExternalTicket,
                 payload: dict[str, Any],
                 connection_id: UUID | None = None) -> tuple[int, dict[str, Any]]:
    digest = request_hash(payload)
    now = runtime.clock.now()
    # One writer per external ticket at a time, across replicas.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                          {"k": f"{ext.system}:{ext.external_id}"})
    link = (await session.execute(select(external_tickets).where(
        external_tickets.c.system == ext.system,
        external_tickets.c.external_id == ext.external_id))).first()
    unmapped = [{"path": u.path, "value": u.value, "reason": u.reason} for u in ext.unmapped]
    result: dict[str, Any] = {"system": ext.system, "external_id": ext.external_id,
                              "key": ext.key, "external_status": ext.external_status,
                              "unmapped": unmapped}
    if link is None:
        _, created = await log_ticket(runtime, session, _ticket_in(runtime, ext))
        row = await get_ticket(session, created["id"])
        assert row is not None
        changes = await _follow_status(runtime, session, row, ext) if ext.status != "new" \
            else []
        await session.execute(update(tickets).where(tickets.c.id == row["id"]).values(
            external_status=ext.external_status))
        await _audit_external_status(runtime, session, row, ext)
        await session.execute(insert(external_tickets).values(
            system=ext.system, external_id=ext.external_id, ticket_id=row["id"], key=ext.key,
            external_status=ext.external_status, status_mapped=ext.status is not None,
            external_updated_at=ext.updated_at, payload_hash=digest, created_at=now,
            updated_at=now, connection_id=connection_id))
        changes += await follow_assignee(runtime, session, row, ext, None, connection_id,
                                         changes)
        changes += await follow_notes(runtime, session, row, ext.system, payload)
        return 201, {**result, "outcome": "created", "changes": changes,
                     "ticket": ticket_out(row)}
    row = await get_ticket(session, link.ticket_id, for_update=True)
    assert row is not None
    if link.payload_hash == digest:
        return 200, {**result, "outcome": "duplicate", "changes": [], "ticket": ticket_out(row)}
    if (ext.updated_at is not None and link.external_updated_at is not None
            and ext.updated_at < link.external_updated_at):
        return 200, {**result, "outcome": "stale", "changes": [], "ticket": ticket_out(row)}
    changes = await _follow_status(runtime, session, row, ext)
    priority = _external_priority(runtime, ext)
    if priority is not None and priority[0] != row["priority"] and row["status"] != "closed":
        await change_priority(runtime, session, row, priority[0], ext.system, priority[1])
        changes.append({"field": "priority", "applied": True, "to": priority[0]})
    await session.execute(update(tickets).where(tickets.c.id == row["id"]).values(
        external_status=ext.external_status, updated_at=now))
    await _audit_external_status(runtime, session, row, ext)
    row["updated_at"] = now
    await session.execute(update(external_tickets).where(
        external_tickets.c.system == ext.system,
        external_tickets.c.external_id == ext.external_id).values(
        external_status=ext.external_status, status_mapped=ext.status is not None,
        external_updated_at=func.greatest(external_tickets.c.external_updated_at,
                                          ext.updated_at) if ext.updated_at else
        external_tickets.c.external_updated_at,
        payload_hash=digest, updated_at=now))
    changes += await follow_assignee(runtime, session, row, ext, link.external_assignee,
                                     connection_id or link.connection_id, changes)
    changes += await follow_notes(runtime, session, row, ext.system, payload)
    return 200, {**result, "outcome": "updated", "changes": changes, "ticket": ticket_out(row)}


async def unmapped_statuses(session: AsyncSession, limit: int,
                            offset: int) -> dict[str, Any]:
    rows, total = await fetch_page(session, select(external_tickets).where(
        external_tickets.c.status_mapped.is_(False)).order_by(
        external_tickets.c.updated_at.desc(), external_tickets.c.system,
        external_tickets.c.external_id), limit, offset)
    return page([{"system": r.system, "external_id": r.external_id, "key": r.key,
             "ticket_id": str(r.ticket_id), "external_status": r.external_status,
             "updated_at": r.updated_at.isoformat()} for r in rows], total, limit, offset)
