"""What happens to a ticket's assignment: answers to offers, presence changes, returns on
reopen, moves on escalation. Runs in the caller's transaction.

Lock order: a ticket's row before an agent's. A path that already holds an agent's row
takes ticket rows only with SKIP LOCKED; whatever it skips, the offer job picks up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.agents.audit import audit_agent
from tierline_router.models import agents, assignments, queue, tickets
from tierline_router.routing.matcher import skill_fit
from tierline_router.routing.placement import (
    HOLDING,
    accepted_event,
    agent_view,
    change_load,
    facts,
    locked_ticket,
    offer_waiting_to,
    policy,
    record,
    release,
    route,
)
from tierline_router.routing.rules import need_for
from tierline_shared.bus.events import AgentPresenceChanged
from tierline_shared.runtime import Runtime


class OfferConflict(Exception):
    """The offer is not there to answer: another agent's, already answered, or none."""

    def __init__(self, message: str, state: str | None) -> None:
        super().__init__(message)
        self.state = state


async def holding(session: AsyncSession, ticket_id: UUID) -> Row[Any] | None:
    return (await session.execute(select(assignments).where(
        assignments.c.ticket_id == ticket_id, assignments.c.status.in_(HOLDING)))).first()


async def answer_offer(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                       agent_id: str, accepted: bool, reason: str | None) -> str:
    now = runtime.clock.now()
    ticket = await locked_ticket(session, ticket_id)
    if ticket is None:
        raise OfferConflict(f"router has no ticket {ticket_id}", None)
    current = (await session.execute(select(assignments)
                                     .where(assignments.c.ticket_id == ticket_id))).first()
    if current is None or current.status != "offered" or current.agent_id != agent_id:
        state = None if current is None else current.status
        owner = "" if current is None else f" (it is {current.status} to {current.agent_id})"
        raise OfferConflict(f"ticket {ticket_id} has no open offer to {agent_id}{owner}", state)
    if accepted:
        await session.execute(update(assignments).where(assignments.c.ticket_id == ticket_id)
                              .values(status="accepted", accepted_at=now,
                                      offer_expires_at=None))
        await record(session, ticket_id, now, "accepted", agent_id)
        await _audit_answer(runtime, session, agent_id, ticket_id, "accepted")
        await runtime.emit(session, runtime.topics.routing, runtime.envelope(
            await accepted_event(session, current, now)))
        return "accepted"
    await session.execute(update(tickets).where(tickets.c.ticket_id == ticket_id)
                          .values(declined_by=[*ticket.declined_by, agent_id]))
    await release(runtime, session, ticket_id, now, "declined", reason)
    await _audit_answer(runtime, session, agent_id, ticket_id, "declined")
    await route(runtime, session, ticket_id, now, trigger=f"declined by {agent_id}")
    await offer_waiting_to(runtime, session, agent_id, now, "capacity freed by a decline")
    return "declined"


async def _audit_answer(runtime: Runtime, session: AsyncSession, agent_id: str,
                        ticket_id: UUID, answer: str) -> None:
    await audit_agent(runtime, session, agent_id, f"offer_{answer}",
                      {"offers": {str(ticket_id): "offered"}},
                      {"offers": {str(ticket_id): answer}})


async def set_presence(runtime: Runtime, session: AsyncSession, agent_id: str,
                       presence: str, now: datetime, *, audited: bool = True,
                       reroute_offers: bool = True) -> Row[Any] | None:
    """Set an agent's presence. Work they have not accepted goes elsewhere at once when they
    go away or offline; accepted work stays unless the policy's ``reroute_accepted_when``
    names that presence. Coming available offers them waiting work. ``audited=False`` when
    the caller records the change in the audit log itself (with the rest of its change).
    ``reroute_offers=False`` leaves their open offers to the offer job, which re-routes an
    away or offline agent's offers a few per transaction (used by that job itself)."""
    moving = ["offered"] if presence in ("away", "offline") and reroute_offers else []
    if presence in policy(runtime).reroute_accepted_when:
        moving.append("accepted")
    offered = (await session.execute(
        select(assignments.c.ticket_id).where(assignments.c.agent_id == agent_id,
                                              assignments.c.status.in_(moving))
        .order_by(assignments.c.ticket_id))).scalars().all() if moving else []
    # tickets before the agent's row; one held elsewhere is left to the offer job
    taken = [tid for tid in offered
             if await locked_ticket(session, tid, wait=False) is not None]
    previous = await session.scalar(select(agents.c.presence).where(agents.c.id == agent_id)
                                    .with_for_update())
    if previous is None:
        return None
    row = (await session.execute(update(agents).where(agents.c.id == agent_id)
                                 .values(presence=presence, updated_at=now)
                                 .returning(agents))).one()
    if previous != presence:
        if audited:
            await audit_agent(runtime, session, agent_id, "presence_changed",
                              {"presence": previous}, {"presence": presence})
        await runtime.emit(session, runtime.topics.agents, runtime.envelope(AgentPresenceChanged(
            agent_id=agent_id, presence=presence, previous=previous,  # type: ignore[arg-type]
            changed_at=now)))
    for ticket_id in taken:
        await reroute_unavailable(runtime, session, ticket_id, agent_id, presence, now)
    if presence == "available":
        await offer_waiting_to(runtime, session, agent_id, now, "agent became available")
    return row


async def reroute_unavailable(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                              agent_id: str, presence: str, now: datetime) -> None:
    held = await holding(session, ticket_id)
    why = f"{agent_id} went {presence}" + (
        " before accepting" if held is not None and held.status == "offered" else "")
    released = await release(runtime, session, ticket_id, now, "agent_unavailable", why)
    if released is not None:
        await route(runtime, session, ticket_id, now, trigger=why)


async def reopen(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                 now: datetime) -> None:
    """A reopened ticket goes back to the agent who had it if they are available with room
    on its channel; otherwise it is routed afresh."""
    ticket = await locked_ticket(session, ticket_id)
    if ticket is None or await holding(session, ticket_id) is not None:
        return
    prev = ticket.last_agent_id
    row = None if prev is None else (await session.execute(
        select(agents).where(agents.c.id == prev).with_for_update())).first()
    if row is not None and row.presence == "available" and agent_view(row).free_on(
            ticket.channel):
        await session.execute(update(assignments).where(assignments.c.ticket_id == ticket_id)
                              .values(status="accepted", accepted_at=now,
                                      offer_expires_at=None))
        await change_load(session, prev, ticket.channel, +1)  # type: ignore[arg-type]
        await record(session, ticket_id, now, "returned", prev, reason="reopened")
        return
    why = "no previous agent" if row is None else (
        f"previous agent {prev} is {row.presence}" if row.presence != "available"
        else f"previous agent {prev} has no free {ticket.channel} capacity")
    await route(runtime, session, ticket_id, now, trigger=f"reopened; {why}")


async def move(runtime: Runtime, session: AsyncSession, ticket_id: UUID, now: datetime, *,
               to_tier: int | None, to_skill: str | None, trigger: str, reason: str) -> None:
    """A functional escalation (from sla, or an agent's request): the ticket needs a higher
    tier or another skill. Its holder keeps it if they already qualify; otherwise it is
    taken back and routed to someone who does. Without a tier or skill, it goes to anyone
    but its current holder."""
    ticket = await locked_ticket(session, ticket_id)
    if ticket is None or ticket.status in ("resolved", "closed") or ticket.deflected:
        return
    values: dict[str, Any] = {}
    if to_tier is not None:
        values["escalated_tier"] = max(ticket.escalated_tier or 0, to_tier)
    if to_skill is not None:
        values["escalated_skill"] = to_skill
    current = await holding(session, ticket_id)
    if not values and current is not None:
        values["declined_by"] = [*ticket.declined_by, current.agent_id]
    if values:
        await session.execute(update(tickets).where(tickets.c.ticket_id == ticket_id)
                              .values(**values))
    await record(session, ticket_id, now, "escalated", None, trigger=trigger, reason=reason,
                 to_tier=to_tier, to_skill=to_skill)
    ticket = await locked_ticket(session, ticket_id)
    assert ticket is not None
    need = need_for(policy(runtime), facts(ticket), excluded=frozenset(ticket.declined_by))
    if current is not None:
        agent = agent_view((await session.execute(
            select(agents).where(agents.c.id == current.agent_id))).one())
        if agent.id not in need.excluded and agent.tier >= need.min_tier \
                and skill_fit(agent, need) is not None:
            await record(session, ticket_id, now, "kept", agent.id,
                         reason=f"{agent.id} already meets {need.describe()}")
            return
        await release(runtime, session, ticket_id, now, "withdrawn", f"{trigger}: {reason}")
        await route(runtime, session, ticket_id, now, trigger=f"{trigger}: {reason}")
        await offer_waiting_to(runtime, session, agent.id, now, "capacity freed by escalation")
        return
    if await session.scalar(select(queue.c.ticket_id).where(queue.c.ticket_id == ticket_id)):
        await route(runtime, session, ticket_id, now, trigger=f"{trigger}: {reason}")
