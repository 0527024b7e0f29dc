"""Router's endpoints for the console: an agent's offers and held work, a live feed of their
offers (Server-Sent Events), and a supervisor's force-assign."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.agents.schemas import AgentId
from tierline_router.console.offer_feed import by_ticket, changes, sse
from tierline_router.console.schemas import AgentWork, AssignIn, AssignOut, WorkItem
from tierline_router.models import agents, assignments, tickets
from tierline_router.work.force import ForceRefused, force_assign
from tierline_shared.auth.deps import PrincipalDep, check_agent, require
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["console"])
POLL_S = 0.25  # how often a live feed looks at the agent's offers
HEARTBEAT_S = 15.0


async def agent_work(session: AsyncSession, agent_id: str) -> dict[str, Any] | None:
    presence = await session.scalar(select(agents.c.presence).where(agents.c.id == agent_id))
    if presence is None:
        return None
    rows = (await session.execute(
        select(assignments, tickets.c.sla_due_at)
        .join(tickets, tickets.c.ticket_id == assignments.c.ticket_id, isouter=True)
        .where(assignments.c.agent_id == agent_id,
               assignments.c.status.in_(("offered", "accepted")))
        .order_by(assignments.c.assigned_at, assignments.c.ticket_id))).all()
    items = [WorkItem.model_validate(dict(r._mapping)).model_dump(mode="json") for r in rows]
    return {"agent_id": agent_id, "presence": presence,
            "offers": [i for i in items if i["status"] == "offered"],
            "holding": [i for i in items if i["status"] == "accepted"]}


def _no_agent(agent_id: str) -> HTTPException:
    return HTTPException(404, error_body("not_found", f"no agent {agent_id}"))


@router.get("/agents/{agent_id}/offers", response_model=AgentWork,
            responses={403: {"description": "The key is bound to another agent"},
                       404: {"description": "No such agent"}},
            dependencies=[require("agents:read")])
async def read_offers(agent_id: AgentId, session: SessionDep, who: PrincipalDep) -> Any:
    """The agent's open offers (with the routing reasons, the offer's expiry and the ticket's
    SLA due time) and the work they hold."""
    check_agent(who, agent_id)
    work = await agent_work(session, agent_id)
    if work is None:
        raise _no_agent(agent_id)
    return work


@router.get("/agents/{agent_id}/offers/stream",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "offered and withdrawn events"},
                       403: {"description": "The key is bound to another agent"},
                       404: {"description": "No such agent"}},
            dependencies=[require("agents:read")])
async def stream_offers(agent_id: AgentId, request: Request, runtime: RuntimeDep,
                        who: PrincipalDep,
                        for_s: float = Query(600, ge=1, le=3600,
                                             description="close after this long; "
                                             "EventSource reconnects")) -> StreamingResponse:
    """Server-Sent Events of the agent's offers: ``offered`` (the offer, as in the list) for
    each open offer on connecting and each new one, ``withdrawn`` when one is accepted,
    declined, timed out or taken back. A new offer is seen within a quarter second."""
    check_agent(who, agent_id)
    async with runtime.sessions() as session:
        first = await agent_work(session, agent_id)
    if first is None:
        raise _no_agent(agent_id)

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        end = loop.time() + for_s
        seen: dict[str, dict[str, Any]] = {}
        current = by_ticket(first["offers"])
        beat = loop.time()
        count = 0
        yield "retry: 1000\n\n"
        while True:
            for event, data in changes(seen, current):
                count += 1
                yield sse(event, data, count)
                beat = loop.time()
            seen = current
            if loop.time() >= end or await request.is_disconnected():
                return
            if loop.time() - beat >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                beat = loop.time()
            await asyncio.sleep(POLL_S)
            async with runtime.sessions() as session:
                work = await agent_work(session, agent_id)
            current = by_ticket(work["offers"]) if work else {}

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/assignments/{ticket_id}/assign", response_model=AssignOut,
             responses={404: {"description": "No such ticket or agent"},
                        409: {"description": "Resolved, already theirs, or over capacity "
                                             "without override_capacity"}},
             dependencies=[require("agents:admin")])
async def assign(ticket_id: UUID, body: AssignIn, runtime: RuntimeDep,
                 actor: ActorDep) -> Any:
    """A supervisor hands the ticket to a named agent, accepted on their behalf: a previous
    holder loses it, the reason goes into the routing history and the agent's audit. Past
    the agent's capacity only with ``override_capacity``, which both record."""
    try:
        async with runtime.transaction(actor) as uow:
            out = await force_assign(runtime, uow.session, ticket_id, body.agent_id,
                                     body.reason, body.override_capacity, actor)
    except ForceRefused as exc:
        raise HTTPException(exc.status, error_body(exc.code, str(exc))) from None
    return out
