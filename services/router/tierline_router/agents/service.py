"""The roster's I/O: an agent created or replaced in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.agents.audit import audit_agent, settings_of
from tierline_router.agents.schemas import AgentIn, AgentOut
from tierline_router.models import agents
from tierline_router.work.service import set_presence
from tierline_shared.bus.events import AgentPresenceChanged
from tierline_shared.runtime import Runtime


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
