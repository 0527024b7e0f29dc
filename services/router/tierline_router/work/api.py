"""Router's REST endpoints for work: assignments, offers and their answers, queues."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import func, select

from tierline_router.models import assignments, history, queue
from tierline_router.work.schemas import AssignmentOut, OfferAnswer
from tierline_router.work.service import OfferConflict, answer_offer
from tierline_shared.audit import Actor
from tierline_shared.auth.deps import Principal, PrincipalDep, check_agent, require
from tierline_shared.runtime import Runtime
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["routing"])


@router.get("/assignments/{ticket_id}", response_model=AssignmentOut,
            responses={404: {"description": "Not assigned (yet): queued or unknown"}},
            dependencies=[require("tickets:read")])
async def read_assignment(ticket_id: UUID, session: SessionDep) -> AssignmentOut:
    row = (await session.execute(select(assignments)
                                 .where(assignments.c.ticket_id == ticket_id))).first()
    if row is None:
        queued = await session.scalar(select(queue.c.queue).where(queue.c.ticket_id == ticket_id))
        raise HTTPException(404, error_body(
            "not_assigned", f"ticket {ticket_id} is not assigned",
            state="queued" if queued else "unknown", queue=queued))
    return AssignmentOut.model_validate(dict(row._mapping))


@router.get("/assignments/{ticket_id}/history", response_model=dict[str, Any],
            dependencies=[require("tickets:read")])
async def read_history(ticket_id: UUID, session: SessionDep,
                       limit: int = Query(200, ge=1, le=1000),
                       offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
    """Every routing step of the ticket: offered, accepted, declined, timed out, queued,
    escalated, returned on reopen, released."""
    rows = (await session.execute(select(history).where(history.c.ticket_id == ticket_id)
                                  .order_by(history.c.id).limit(limit).offset(offset))).all()
    return {"ticket_id": str(ticket_id), "limit": limit, "offset": offset,
            "items": [{"at": r.at.isoformat(), "action": r.action, "agent_id": r.agent_id,
                       "detail": r.detail} for r in rows]}


async def _answer(ticket_id: UUID, body: OfferAnswer, runtime: Runtime, actor: Actor,
                  who: Principal, accepted: bool) -> dict[str, Any]:
    check_agent(who, body.agent_id)
    try:
        async with runtime.transaction(actor) as uow:
            outcome = await answer_offer(runtime, uow.session, ticket_id, body.agent_id,
                                         accepted, body.reason)
    except OfferConflict as exc:
        raise HTTPException(409, error_body("no_open_offer", str(exc), state=exc.state)) \
            from None
    return {"ticket_id": str(ticket_id), "agent_id": body.agent_id, "outcome": outcome}


@router.post("/assignments/{ticket_id}/accept", response_model=dict[str, Any],
             responses={403: {"description": "The key is bound to another agent"},
                        409: {"description": "No open offer of this ticket to this agent"}},
             dependencies=[require("agents:write")])
async def accept_offer(ticket_id: UUID, body: OfferAnswer, runtime: RuntimeDep,
                       actor: ActorDep, who: PrincipalDep) -> dict[str, Any]:
    """The agent takes the offered ticket: it stays theirs until resolved, even if they go
    away."""
    return await _answer(ticket_id, body, runtime, actor, who, accepted=True)


@router.post("/assignments/{ticket_id}/decline", response_model=dict[str, Any],
             responses={403: {"description": "The key is bound to another agent"},
                        409: {"description": "No open offer of this ticket to this agent"}},
             dependencies=[require("agents:write")])
async def decline_offer(ticket_id: UUID, body: OfferAnswer, runtime: RuntimeDep,
                        actor: ActorDep, who: PrincipalDep) -> dict[str, Any]:
    """The agent passes on the offer: it goes to the next best agent (never back to them)."""
    return await _answer(ticket_id, body, runtime, actor, who, accepted=False)


@router.get("/queues", response_model=dict[str, Any],
            dependencies=[require("tickets:read")])
async def list_queues(session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """Each queue's depth and the age of its oldest ticket."""
    now = runtime.clock.now()
    rows = (await session.execute(select(queue.c.queue, func.count(), func.min(queue.c.queued_at))
                                  .group_by(queue.c.queue).order_by(queue.c.queue))).all()
    return {"items": [{"queue": name, "depth": depth, "oldest_queued_at": oldest.isoformat(),
                       "oldest_age_s": round((now - oldest).total_seconds(), 3)}
                      for name, depth, oldest in rows]}


@router.get("/queues/{name}", response_model=dict[str, Any],
            dependencies=[require("tickets:read")])
async def read_queue(name: str, session: SessionDep, limit: int = Query(50, ge=1, le=500),
                     offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
    """A queue's waiting tickets in the order they will be offered: earned priority, then
    SLA due time, then age."""
    total = await session.scalar(select(func.count()).select_from(queue)
                                 .where(queue.c.queue == name))
    rows = (await session.execute(
        select(queue).where(queue.c.queue == name)
        .order_by(queue.c.eff_rank, queue.c.sla_due_at.asc().nulls_last(), queue.c.queued_at)
        .limit(limit).offset(offset))).all()
    items = [{"ticket_id": str(r.ticket_id), "priority": r.priority, "earned_rank": r.eff_rank,
              "sla_due_at": r.sla_due_at.isoformat() if r.sla_due_at else None,
              "queued_at": r.queued_at.isoformat(), "channel": r.channel, "skill": r.skill,
              "tiers": [r.min_tier, r.max_tier], "reason": r.reason} for r in rows]
    return {"queue": name, "total": total, "limit": limit, "offset": offset, "items": items}
