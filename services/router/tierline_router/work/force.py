"""A supervisor's force-assign: the ticket goes to a named agent, accepted on their behalf,
whatever routing would have chosen. Runs in the caller's transaction.

Lock order as in ``work``: the ticket's row, then the previous holder's, then the new agent's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.agents.audit import audit_agent
from tierline_router.models import agents, assignments
from tierline_router.routing.matcher import AgentView, Decision
from tierline_router.routing.placement import (
    agent_view,
    facts,
    locked_ticket,
    offer,
    offer_waiting_to,
    policy,
    record,
    release,
)
from tierline_router.routing.rules import need_for
from tierline_router.work.service import holding
from tierline_shared.audit import Actor
from tierline_shared.bus.events import TicketOfferAnswered
from tierline_shared.runtime import Runtime


class ForceRefused(Exception):
    """The ticket cannot be handed over: ``status`` and ``code`` say how to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def capacity_refusal(agent: AgentView, channel: str) -> str | None:
    """Why ``agent`` has no room for one more ticket on ``channel`` (pure), or None."""
    if channel not in agent.channels:
        return f"{agent.id} does not work the {channel} channel"
    if agent.active_by_channel.get(channel, 0) >= agent.channels[channel]:
        return f"{agent.id} is at their {channel} capacity ({agent.channels[channel]})"
    if agent.active_total >= agent.max_total:
        return f"{agent.id} is at their total capacity ({agent.max_total})"
    return None


async def force_assign(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                       agent_id: str, reason: str, override_capacity: bool,
                       actor: Actor) -> dict[str, Any]:
    now: datetime = runtime.clock.now()
    ticket = await locked_ticket(session, ticket_id)
    if ticket is None:
        raise ForceRefused(404, "not_found", f"router has no ticket {ticket_id}")
    if ticket.deflected or ticket.status in ("resolved", "closed"):
        raise ForceRefused(409, "not_routable", f"ticket {ticket_id} is {ticket.status}"
                           + (" (deflected)" if ticket.deflected else ""))
    current = await holding(session, ticket_id)
    if current is not None and current.agent_id == agent_id:
        raise ForceRefused(409, "already_assigned",
                           f"ticket {ticket_id} is already {current.status} to {agent_id}")
    if await session.scalar(select(agents.c.id).where(agents.c.id == agent_id)) is None:
        raise ForceRefused(404, "not_found", f"no agent {agent_id}")
    why = f"force-assigned by {actor.name}: {reason}"
    if current is not None:
        await release(runtime, session, ticket_id, now, "withdrawn", why)
    row = (await session.execute(select(agents).where(agents.c.id == agent_id)
                                 .with_for_update())).one()
    agent = agent_view(row)
    over = capacity_refusal(agent, ticket.channel)
    if over is not None and not override_capacity:
        raise ForceRefused(409, "over_capacity",
                           f"{over}; send override_capacity true to assign anyway")
    need = need_for(policy(runtime), facts(ticket), excluded=frozenset())
    ticket = await locked_ticket(session, ticket_id)
    assert ticket is not None
    await offer(runtime, session, ticket, Decision(agent, need, [agent.id], {}), now, why,
                queued=True)
    forced = {"by": actor.name, "key_id": actor.key_id, "reason": reason,
              "capacity_overridden": over if override_capacity and over else None,
              "previous_agent_id": None if current is None else current.agent_id}
    reasons, attempt = (await session.execute(select(
        assignments.c.reasons, assignments.c.attempt).where(
        assignments.c.ticket_id == ticket_id))).one()
    reasons = reasons or {}
    await session.execute(update(assignments).where(assignments.c.ticket_id == ticket_id)
                          .values(status="accepted", accepted_at=now, offer_expires_at=None,
                                  reasons={**reasons, "forced": forced}))
    await record(session, ticket_id, now, "force_assigned", agent_id, **forced)
    await audit_agent(runtime, session, agent_id, "force_assigned",
                      {"offers": {str(ticket_id): None}},
                      {"offers": {str(ticket_id): "force_assigned"},
                       "force_reason": reason, "capacity_overridden": forced[
                           "capacity_overridden"]})
    await runtime.emit(session, runtime.topics.routing, runtime.envelope(TicketOfferAnswered(
        ticket_id=ticket_id, agent_id=agent_id, outcome="accepted", reason=why,
        answered_at=now, attempt=attempt)))
    if current is not None:
        await offer_waiting_to(runtime, session, current.agent_id, now,
                               "capacity freed by a force-assign")
    return {"ticket_id": str(ticket_id), "agent_id": agent_id, "status": "accepted",
            "previous_agent_id": forced["previous_agent_id"], "reason": reason,
            "capacity_overridden": forced["capacity_overridden"]}
