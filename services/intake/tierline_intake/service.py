"""Logging a ticket: classify, then write the ticket and its event in one transaction."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.classify import classify
from tierline_intake.models import tickets
from tierline_intake.schemas import TicketIn
from tierline_shared.bus.events import TicketCreated
from tierline_shared.runtime import Runtime


class IdempotencyConflict(Exception):
    """The key was used before with a different request body."""


def request_hash(body: TicketIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def find_by_key(session: AsyncSession, key: str, digest: str) -> dict[str, Any] | None:
    row = (await session.execute(select(tickets).where(tickets.c.idempotency_key == key))).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise IdempotencyConflict(key)
    return dict(row._mapping)


async def log_ticket(runtime: Runtime, body: TicketIn,
                     idempotency_key: str | None) -> tuple[dict[str, Any], bool]:
    """Store the ticket and its ``ticket.created`` event; returns (row, created)."""
    digest = request_hash(body)
    if idempotency_key is not None:
        async with runtime.sessions() as session:
            existing = await find_by_key(session, idempotency_key, digest)
        if existing is not None:
            return existing, False
    result = classify(
        title=body.title, description=body.description,
        taxonomy=runtime.state["taxonomy"], matrix=runtime.state["priority_matrix"],
        ticket_type=body.type, category=body.category, impact=body.impact, urgency=body.urgency,
    )
    now = runtime.clock.now()
    row: dict[str, Any] = {
        "id": uuid4(),
        "ticket_type": result.ticket_type.value,
        "status": "new",
        "title": body.title,
        "description": body.description,
        "requester": body.requester.model_dump(mode="json", exclude_none=True),
        "channel": body.channel,
        "impact": result.impact.value,
        "urgency": result.urgency.value,
        "priority": result.priority.value,
        "category": result.category.value,
        "subcategory": result.subcategory,
        "needs_triage": result.needs_triage,
        "explanation": result.explanation(),
        "context": body.model_dump(mode="json", include={"service", "started_at", "tried"},
                                   exclude_none=True),
        "external_system": body.external_system,
        "external_id": body.external_id,
        "created_at": now,
        "idempotency_key": idempotency_key,
        "request_hash": digest,
    }
    event = TicketCreated(
        ticket_id=row["id"], ticket_type=row["ticket_type"], title=row["title"],
        category=row["category"], subcategory=row["subcategory"], priority=row["priority"],
        impact=row["impact"], urgency=row["urgency"], channel=row["channel"],
        requester_id=body.requester.id, created_at=now,
    )
    try:
        async with runtime.sessions() as session, session.begin():
            await session.execute(insert(tickets).values(**row))
            await runtime.emit(session, runtime.topics.tickets, runtime.envelope(event))
    except IntegrityError:
        if idempotency_key is None:
            raise
        async with runtime.sessions() as session:  # a concurrent retry with the same key won
            existing = await find_by_key(session, idempotency_key, digest)
        if existing is None:
            raise
        return existing, False
    runtime.relay.notify()
    return row, True


async def get_ticket(session: AsyncSession, ticket_id: UUID) -> dict[str, Any] | None:
    row = (await session.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
    return dict(row._mapping) if row is not None else None
