"""What the desk says about who works a ticket, and router never fighting it.

- The desk shows the agent router chose, in progress: an open offer is accepted (that is
  how ``accept_in_desk`` rules accept); nothing else changes.
- The desk shows someone else: router takes the ticket back from its agent (their capacity
  is freed and they are offered waiting work), takes it out of the queue, and records the
  desk's choice; when that person is one of router's agents, the work counts on their
  capacity as accepted. Router does not route the ticket again on its own.

Neither is written back to the desk: it already shows it (``reason`` starts ``desk:``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.models import agents, assignments, queue, tickets
from tierline_router.routing.placement import (
    HOLDING,
    accepted_event,
    change_load,
    locked_ticket,
    offer_waiting_to,
    record,
    release,
)
from tierline_shared.bus.events import TicketAssigned, TicketDeskAssigneeChanged
from tierline_shared.bus.handlers import Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork


async def on_desk_assignee(runtime: Runtime, uow: UnitOfWork,
                           d: Delivered[TicketDeskAssigneeChanged]) -> None:
    e = d.event
    session, now = uow.session, runtime.clock.now()
    ticket = await locked_ticket(session, e.ticket_id)
    if ticket is None or e.desk_user is None:
        return
    agent_id = await session.scalar(select(agents.c.id).where(
        agents.c.desk_ids[e.connection]["user"].astext == e.desk_user).order_by(agents.c.id)
        .limit(1))
    held = (await session.execute(select(assignments).where(
        assignments.c.ticket_id == e.ticket_id,
        assignments.c.status.in_(HOLDING)))).first()
    desk = f"desk: {e.connection}"
    if held is not None and held.agent_id == agent_id:
        if held.status == "offered" and e.in_progress:
            row = (await session.execute(update(assignments).where(
                assignments.c.ticket_id == e.ticket_id).values(
                status="accepted", accepted_at=now, offer_expires_at=None)
                .returning(assignments))).one()
            await record(session, e.ticket_id, now, "accepted", agent_id, reason=desk)
            event = await accepted_event(session, row, now)
            await runtime.emit(session, runtime.topics.routing, runtime.envelope(
                event.model_copy(update={"reason": f"{desk} in progress"})))
        return
    who = agent_id or f"{e.connection} user {e.desk_user}"
    if held is not None:
        outcome = "declined" if held.status == "offered" else "withdrawn"
        await release(runtime, session, e.ticket_id, now, outcome, f"{desk} taken by {who}")
    await session.execute(delete(queue).where(queue.c.ticket_id == e.ticket_id))
    await record(session, e.ticket_id, now, "taken_in_desk", agent_id,
                 connection=e.connection, desk_user=e.desk_user)
    if agent_id is not None:
        await _hold_for(runtime, session, agent_id, ticket, desk)
    if held is not None:
        await offer_waiting_to(runtime, session, held.agent_id, now,
                               f"capacity freed: {desk} gave the ticket to {who}")


async def _hold_for(runtime: Runtime, session: AsyncSession, agent_id: str, t: Row[Any],
                    desk: str) -> None:
    """The desk's choice is one of router's agents: the work is theirs, accepted."""
    now = runtime.clock.now()
    tier = await session.scalar(select(agents.c.tier).where(agents.c.id == agent_id)
                                .with_for_update())
    reasons = {"rule": "desk", "chosen": agent_id, "trigger": f"{desk} assignee"}
    values = {"agent_id": agent_id, "status": "accepted", "channel": t.channel,
              "priority": t.priority, "category": t.category, "agent_tier": tier,
              "attempt": t.attempts + 1, "assigned_at": now, "offer_expires_at": None,
              "accepted_at": now, "reasons": reasons}
    row = (await session.execute(pg_insert(assignments).values(
        ticket_id=t.ticket_id, **values).on_conflict_do_update(
        index_elements=[assignments.c.ticket_id], set_=values).returning(assignments))).one()
    await change_load(session, agent_id, row.channel, +1, assigned_at=now)
    await session.execute(update(tickets).where(tickets.c.ticket_id == t.ticket_id).values(
        attempts=row.attempt, last_agent_id=agent_id))
    await runtime.emit(session, runtime.topics.routing, runtime.envelope(TicketAssigned(
        ticket_id=row.ticket_id, agent_id=agent_id, agent_tier=tier, priority=row.priority,
        category=row.category, channel=row.channel, assigned_at=now, reasons=reasons,
        attempt=row.attempt)))
    event = await accepted_event(session, row, now)
    await runtime.emit(session, runtime.topics.routing, runtime.envelope(
        event.model_copy(update={"reason": f"{desk} assignee"})))
