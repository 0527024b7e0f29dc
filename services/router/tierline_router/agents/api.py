"""Router's REST endpoints for agents: the roster, bulk import and presence."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.agents.audit import ENTITY, audit_agent, settings_of
from tierline_router.models import agents, audit_log
from tierline_router.work.service import set_presence
from tierline_shared import audit
from tierline_shared.auth.deps import PrincipalDep, check_agent, require
from tierline_shared.bus.events import AgentPresenceChanged, Channel
from tierline_shared.pagination import Limit, Offset, fetch_page, page
from tierline_shared.policy import known_timezone
from tierline_shared.runtime import Runtime
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["agents"])

SkillName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]{1,64}$")]
AgentIdStr = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
AgentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Presence = Literal["available", "busy", "away", "offline"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PERIOD = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


ConnectionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
DeskRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DeskIds(BaseModel):
    """Who the agent is in one desk connection: ServiceNow ``sys_user`` sys_id and assignment
    group sys_id, Jira ``accountId``, or Zendesk user id and group id."""

    model_config = ConfigDict(extra="forbid")
    user: DeskRef
    group: DeskRef | None = None


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    tier: int = Field(ge=1, le=3)
    skills: dict[SkillName, Annotated[int, Field(ge=1, le=5)]] = Field(min_length=1,
                                                                       max_length=100)
    channels: dict[Channel, Annotated[int, Field(ge=1, le=50)]] = Field(
        min_length=1, description="concurrent capacity per channel")
    max_total: int | None = Field(default=None, ge=1, le=200,
                                  description="cap across channels; default their sum")
    presence: Presence = "available"
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=lambda: ["en"], min_length=1, max_length=20)
    team: Annotated[str, StringConstraints(max_length=200)] | None = None
    manager: Annotated[str, StringConstraints(max_length=200)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    working_hours: dict[Weekday, list[str]] | None = Field(
        default=None, description='e.g. {"mon": ["09:00-17:00"]}, in the agent\'s timezone')
    desk_ids: dict[ConnectionName, DeskIds] = Field(
        default_factory=dict, max_length=50, description="the agent's ids per desk connection "
        '(by its name), e.g. {"acme-snow": {"user": "<sys_user sys_id>", "group": '
        '"<assignment group sys_id>"}}; used to write assignments back')

    _zone = field_validator("timezone")(known_timezone)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for day, periods in (value or {}).items():
            for period in periods:
                if not PERIOD.match(period) or period[:5] >= period[6:]:
                    raise ValueError(f"{day}: {period!r} is not HH:MM-HH:MM, start first")
        return value

    @model_validator(mode="after")
    def _total(self) -> AgentIn:
        if self.max_total is None:
            self.max_total = sum(self.channels.values())
        return self


class AgentImportItem(AgentIn):
    id: AgentIdStr


class AgentImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agents: list[AgentImportItem] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _unique(self) -> AgentImport:
        ids = [a.id for a in self.agents]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"agent ids appear twice: {', '.join(duplicates)}")
        return self


class AgentOut(AgentIn):
    id: str
    updated_at: datetime
    last_assigned_at: datetime | None = None
    active_by_channel: dict[str, int] = Field(description="offered and accepted work")
    active_total: int


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presence: Presence


async def upsert_agent(runtime: Runtime, session: AsyncSession, agent_id: str,
                       body: AgentIn) -> AgentOut:
    """Create or replace an agent (their live load stays); skill, tier and capacity changes
    take effect at once, and a presence change is applied as by the presence endpoint."""
    now = runtime.clock.now()
    values = body.model_dump() | {"id": agent_id, "updated_at": now}
    found = (await session.execute(select(agents).where(agents.c.id == agent_id)
                                   .with_for_update())).first()
    previous = None if found is None else found.presence
    await session.execute(pg_insert(agents).values(**values).on_conflict_do_update(
        index_elements=[agents.c.id],
        set_={k: v for k, v in values.items() if k not in ("id", "presence")}))
    if previous is None:
        await runtime.emit(session, runtime.topics.agents, runtime.envelope(AgentPresenceChanged(
            agent_id=agent_id, presence=body.presence, previous=None, changed_at=now)))
    row = await set_presence(runtime, session, agent_id, body.presence, now, audited=False)
    assert row is not None
    await audit_agent(runtime, session, agent_id, "created" if found is None else "updated",
                      {} if found is None else settings_of(found._mapping),
                      settings_of(row._mapping))
    return AgentOut.model_validate(dict(row._mapping))


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
