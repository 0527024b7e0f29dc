"""``GET /v1/tickets``: find tickets by status, priority, category, requester, assigned or
offered agent, routing state and creation time, newest first, paged by a keyset cursor
(stable while tickets arrive)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select

from tierline_intake.models import tickets
from tierline_intake.tickets.schemas import RoutingState
from tierline_intake.tickets.search import BadCursor, decode, encode
from tierline_shared.auth.deps import require
from tierline_shared.bus.events import Channel, Priority, Status, TicketType
from tierline_shared.web import SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["tickets"])

_EXAMPLE = {"id": "0b7e4f0e-6c1d-4a43-9a51-2b1f8f3d2c10", "type": "incident", "status": "new",
            "title": "VPN keeps disconnecting", "priority": "P2", "category": "network",
            "subcategory": "vpn", "channel": "portal", "requester_id": "u-1001",
            "routing_state": "queued", "offered_agent": None, "offered_tier": None,
            "assigned_agent": None, "assigned_tier": None,
            "created_at": "2026-11-30T09:00:00Z", "updated_at": "2026-11-30T09:00:00Z"}


class TicketSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})
    id: UUID
    type: TicketType
    status: Status
    title: str
    priority: Priority
    category: str
    subcategory: str | None
    channel: Channel
    requester_id: str | None
    routing_state: RoutingState | None
    offered_agent: str | None
    offered_tier: int | None
    assigned_agent: str | None
    assigned_tier: int | None
    created_at: datetime
    updated_at: datetime


class TicketSearchPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_EXAMPLE], "limit": 50, "next_cursor": None}]})
    items: list[TicketSummary]
    limit: int
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on "
                                    "the last")


Text = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get("/tickets", response_model=TicketSearchPage,
            responses={422: {"description": "A filter or the cursor is invalid"}},
            dependencies=[require("tickets:read")])
async def search_tickets(
        session: SessionDep,
        status: Annotated[list[Status] | None, Query()] = None,
        priority: Annotated[list[Priority] | None, Query()] = None,
        category: Text = None,
        requester: Annotated[str | None, Query(min_length=1, max_length=200,
                                               description="the requester's id")] = None,
        assigned_agent: Annotated[str | None, Query(
            min_length=1, max_length=200, description="the agent who accepted it")] = None,
        offered_agent: Annotated[str | None, Query(
            min_length=1, max_length=200, description="the agent an open offer waits on")
        ] = None,
        routing_state: Annotated[list[RoutingState] | None, Query()] = None,
        created_from: Annotated[datetime | None, Query(description="inclusive")] = None,
        created_to: Annotated[datetime | None, Query(description="exclusive")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(min_length=1, max_length=400)] = None) -> Any:
    """Tickets newest first. Repeat ``status``, ``priority`` or ``routing_state`` for any of
    several values; pass the previous page's ``next_cursor`` as ``cursor`` for the next
    page."""
    for name, value in (("created_from", created_from), ("created_to", created_to)):
        if value is not None and value.tzinfo is None:
            raise invalid(name, "give a time zone, e.g. 2026-11-30T09:00:00Z")
    query = select(tickets)
    if status:
        query = query.where(tickets.c.status.in_(status))
    if priority:
        query = query.where(tickets.c.priority.in_(priority))
    if category is not None:
        query = query.where(tickets.c.category == category)
    if requester is not None:
        query = query.where(tickets.c.requester["id"].astext == requester)
    if assigned_agent is not None:
        query = query.where(tickets.c.assigned_agent == assigned_agent)
    if offered_agent is not None:
        query = query.where(tickets.c.offered_agent == offered_agent)
    if routing_state:
        query = query.where(tickets.c.routing_state.in_(routing_state))
    if created_from is not None:
        query = query.where(tickets.c.created_at >= created_from)
    if created_to is not None:
        query = query.where(tickets.c.created_at < created_to)
    if cursor is not None:
        try:
            at, last = decode(cursor)
        except BadCursor as exc:
            raise invalid("cursor", str(exc)) from None
        query = query.where(or_(tickets.c.created_at < at,
                                and_(tickets.c.created_at == at, tickets.c.id < last)))
    rows = (await session.execute(query.order_by(tickets.c.created_at.desc(),
                                                 tickets.c.id.desc()).limit(limit + 1))).all()
    more, rows = len(rows) > limit, rows[:limit]
    items = [{**{k: getattr(r, k) for k in (
        "id", "status", "title", "priority", "category", "subcategory", "channel",
        "routing_state", "offered_agent", "offered_tier", "assigned_agent", "assigned_tier",
        "created_at", "updated_at")},
        "type": r.ticket_type, "requester_id": (r.requester or {}).get("id")} for r in rows]
    last_row = rows[-1] if more else None
    return {"items": items, "limit": limit,
            "next_cursor": encode(last_row.created_at, last_row.id) if last_row else None}


def invalid(field: str, message: str) -> HTTPException:
    return HTTPException(422, error_body("validation_error", [
        {"field": f"query.{field}", "message": message, "type": "value_error"}]))
