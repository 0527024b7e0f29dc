"""Router's REST endpoints for agents: the roster, bulk import and presence."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from tierline_router.agents.audit import ENTITY
from tierline_router.agents.schemas import (
    AgentId,
    AgentImport,
    AgentIn,
    AgentOut,
    Presence,
    PresenceIn,
)
from tierline_router.agents.service import upsert_agent
from tierline_router.models import agents, audit_log
from tierline_router.work.service import set_presence
from tierline_shared import audit
from tierline_shared.auth.deps import PrincipalDep, check_agent, require
from tierline_shared.pagination import Limit, Offset, fetch_page, page
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["agents"])


@router.put("/agents/{agent_id}", response_model=AgentOut,
            dependencies=[require("agents:admin")])
async def put_agent(agent_id: AgentId, body: AgentIn, runtime: RuntimeDep,
                    actor: ActorDep) -> AgentOut:
    """Create or replace an agent; waiting work they can take is offered at once."""
    async with runtime.transaction(actor) as uow:
        out = await upsert_agent(runtime, uow.session, agent_id, body)
    return out


@router.post("/agents/import", response_model=dict[str, Any],
             dependencies=[require("agents:admin")])
async def import_agents(body: AgentImport, runtime: RuntimeDep,
                        actor: ActorDep) -> dict[str, Any]:
    """Create or replace up to 1,000 agents in one transaction: all or none."""
    async with runtime.transaction(actor) as uow:
        for item in sorted(body.agents, key=lambda a: a.id):
            await upsert_agent(runtime, uow.session, item.id,
                               AgentIn.model_validate(item.model_dump(exclude={"id"})))
    return {"imported": len(body.agents), "ids": sorted(a.id for a in body.agents)}


@router.put("/agents/{agent_id}/presence", response_model=AgentOut,
            responses={403: {"description": "The key is bound to another agent"},
                       404: {"description": "No such agent"}},
            dependencies=[require("agents:write")])
async def put_presence(agent_id: AgentId, body: PresenceIn, runtime: RuntimeDep,
                       actor: ActorDep, who: PrincipalDep) -> AgentOut:
    """Set an agent's presence. Coming available offers them waiting work at once; going
    away or offline sends the work they have not accepted to others."""
    check_agent(who, agent_id)
    async with runtime.transaction(actor) as uow:
        row = await set_presence(runtime, uow.session, agent_id, body.presence,
                                 runtime.clock.now())
        if row is None:
            raise HTTPException(404, error_body("not_found", f"no agent {agent_id}"))
    return AgentOut.model_validate(dict(row._mapping))


@router.get("/agents", response_model=dict[str, Any],
            dependencies=[require("agents:read")])
async def list_agents(session: SessionDep, limit: Limit = 100, offset: Offset = 0,
                      team: str | None = Query(None, max_length=200),
                      presence: Presence | None = None) -> dict[str, Any]:
    query = select(agents)
    if team is not None:
        query = query.where(agents.c.team == team)
    if presence is not None:
        query = query.where(agents.c.presence == presence)
    rows, total = await fetch_page(session, query.order_by(agents.c.id), limit, offset)
    return page([AgentOut.model_validate(dict(r._mapping)).model_dump(mode="json")
                 for r in rows], total, limit, offset)


@router.get("/agents/{agent_id}/audit", response_model=audit.AuditPage,
            responses={404: {"description": "No such agent"}},
            dependencies=[require("agents:read")])
async def read_audit(agent_id: AgentId, session: SessionDep,
                     limit: int = Query(100, ge=1, le=500),
                     offset: int = Query(0, ge=0, le=1_000_000)) -> Any:
    """Who changed what on the agent, oldest first: roster changes, presence, answers to
    offers. Each entry has the action, the actor (the API key's name and id, or
    ``system:router`` for changes made on events and timers, such as a missed offer), when,
    and the changed fields with their values before and after."""
    if await session.scalar(select(agents.c.id).where(agents.c.id == agent_id)) is None:
        raise HTTPException(404, error_body("not_found", f"no agent {agent_id}"))
    return await audit.page(session, audit_log, entity_type=ENTITY, entity_id=agent_id,
                            limit=limit, offset=offset)


@router.get("/agents/{agent_id}", response_model=AgentOut,
            responses={404: {"description": "No such agent"}},
            dependencies=[require("agents:read")])
async def read_agent(agent_id: AgentId, session: SessionDep) -> AgentOut:
    row = (await session.execute(select(agents).where(agents.c.id == agent_id))).first()
    if row is None:
        raise HTTPException(404, error_body("not_found", f"no agent {agent_id}"))
    return AgentOut.model_validate(dict(row._mapping))
