"""Router's REST endpoints: agents and assignments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.models import agents
from tierline_router.service import drain_queue, get_assignment, is_queued
from tierline_shared.bus.events import AgentPresenceChanged, Channel
from tierline_shared.runtime import Runtime
from tierline_shared.web import RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["routing"])

SkillName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]{1,64}$")]
AgentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Presence = Literal["available", "busy", "away", "offline"]


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    tier: int = Field(ge=1, le=3)
    skills: dict[SkillName, Annotated[int, Field(ge=1, le=5)]] = Field(min_length=1)
    channels: dict[Channel, Annotated[int, Field(ge=1, le=50)]] = Field(min_length=1)
    max_total: int | None = Field(default=None, ge=1, le=200)
    presence: Presence = "available"
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]] = ["en"]
    team: Annotated[str, StringConstraints(max_length=200)] | None = None

    @model_validator(mode="after")
    def _total(self) -> AgentIn:
        if self.max_total is None:
            self.max_total = sum(self.channels.values())
        return self


class AgentOut(AgentIn):
    id: str
    updated_at: datetime
    last_assigned_at: datetime | None = None


class AssignmentOut(BaseModel):
    ticket_id: UUID
    agent_id: str
    status: str
    channel: str
    priority: str
    category: str
    assigned_at: datetime
    reasons: dict[str, Any]


async def _presence_changed(runtime: Runtime, session: AsyncSession, agent_id: str,
                            previous: str | None, presence: str) -> None:
    if previous == presence:
        return
    await runtime.emit(session, runtime.topics.agents, runtime.envelope(AgentPresenceChanged(
        agent_id=agent_id, presence=presence, previous=previous,
        changed_at=runtime.clock.now())))


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presence: Presence


@router.put("/agents/{agent_id}/presence", response_model=AgentOut,
            responses={404: {"description": "No such agent"}})
async def put_presence(agent_id: AgentId, body: PresenceIn, runtime: RuntimeDep) -> AgentOut:
    """Set an agent's presence; coming available places waiting work at once."""
    async with runtime.sessions() as session, session.begin():
        previous = await session.scalar(select(agents.c.presence).where(agents.c.id == agent_id)
                                        .with_for_update())
        if previous is None:
            raise HTTPException(404, error_body("not_found", f"no agent {agent_id}"))
        row = (await session.execute(
            update(agents).where(agents.c.id == agent_id)
            .values(presence=body.presence, updated_at=runtime.clock.now())
            .returning(agents))).one()
        await _presence_changed(runtime, session, agent_id, previous, body.presence)
        if body.presence == "available":
            await drain_queue(runtime, session)
    runtime.relay.notify()
    return AgentOut.model_validate(dict(row._mapping))


@router.put("/agents/{agent_id}", response_model=AgentOut)
async def put_agent(agent_id: AgentId, body: AgentIn, runtime: RuntimeDep) -> AgentOut:
    """Create or replace an agent; waiting work is placed at once if the agent fits it."""
    values = body.model_dump() | {"id": agent_id, "updated_at": runtime.clock.now()}
    async with runtime.sessions() as session, session.begin():
        previous = await session.scalar(select(agents.c.presence).where(agents.c.id == agent_id)
                                        .with_for_update())
        row = (await session.execute(
            pg_insert(agents).values(**values)
            .on_conflict_do_update(index_elements=[agents.c.id],
                                   set_={k: v for k, v in values.items() if k != "id"})
            .returning(agents))).one()
        await _presence_changed(runtime, session, agent_id, previous, body.presence)
        await drain_queue(runtime, session)
    runtime.relay.notify()
    return AgentOut.model_validate(dict(row._mapping))


@router.get("/agents", response_model=dict[str, Any])
async def list_agents(session: SessionDep, limit: int = Query(100, ge=1, le=500),
                      offset: int = Query(0, ge=0)) -> dict[str, Any]:
    total = await session.scalar(select(func.count()).select_from(agents))
    rows = (await session.execute(select(agents).order_by(agents.c.id)
                                  .limit(limit).offset(offset))).all()
    return {"items": [AgentOut.model_validate(dict(r._mapping)).model_dump(mode="json")
                      for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/agents/{agent_id}", response_model=AgentOut)
async def read_agent(agent_id: AgentId, session: SessionDep) -> AgentOut:
    row = (await session.execute(select(agents).where(agents.c.id == agent_id))).first()
    if row is None:
        raise HTTPException(404, error_body("not_found", f"no agent {agent_id}"))
    return AgentOut.model_validate(dict(row._mapping))


@router.get("/assignments/{ticket_id}", response_model=AssignmentOut,
            responses={404: {"description": "Not assigned (yet): queued or unknown"}})
async def read_assignment(ticket_id: UUID, session: SessionDep) -> AssignmentOut:
    row = await get_assignment(session, ticket_id)
    if row is None:
        state = "queued" if await is_queued(session, ticket_id) else "unknown"
        raise HTTPException(404, error_body("not_assigned", f"ticket {ticket_id} is not assigned",
                                            state=state))
    return AssignmentOut.model_validate(row)
