"""Router's periodic jobs: offers that ran out of time, waiting work whose rank or pool
changes, a sweep of each queue's head, and the queue gauges. Every replica runs them; row
locks taken with SKIP LOCKED share the work out so nothing is done twice."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.context import router_context
from tierline_router.models import agents, assignments, queue
from tierline_router.routing.placement import locked_ticket, policy, release, route
from tierline_router.work.service import reroute_unavailable, set_presence
from tierline_shared.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 200  # offers expired or waiting tickets reviewed per run of a job, at most
# Per transaction: each of them locks its agent until the commit, and a decision the
# consumer makes for that agent meanwhile waits. Two hundred in one transaction had held
# agents for seconds (the end-to-end bench's 50/s load, when the previous load's offers
# timed out, saw decisions wait 2.5 s); ten hold them for a few decisions' time.
CHUNK = 10


async def _lock_ticket(session: AsyncSession, ticket_id: UUID) -> bool:
    return await locked_ticket(session, ticket_id, wait=False) is not None


async def expire_offers(runtime: Runtime) -> None:
    """An offer nobody answered in time goes to the next agent, and the agent who missed it
    is set to the policy's missed-offer presence (so they get no more until they are back).
    Offers still held by agents who went away are re-routed too."""
    now = runtime.clock.now()
    seen: set[UUID] = set()
    for _ in range(BATCH // CHUNK):
        async with runtime.transaction() as uow:
            due = await _expire_chunk(runtime, uow.session, now, seen)
        if due < CHUNK:
            return


async def _expire_chunk(runtime: Runtime, session: AsyncSession, now: datetime,
                        seen: set[UUID]) -> int:
    """Expire up to ``CHUNK`` due offers not ``seen`` yet this run; how many were due."""
    query = (select(assignments.c.ticket_id, assignments.c.agent_id, agents.c.presence)
             .join(agents, agents.c.id == assignments.c.agent_id)
             .where(assignments.c.status == "offered",
                    (assignments.c.offer_expires_at <= now)
                    | agents.c.presence.in_(("away", "offline")))
             .order_by(assignments.c.offer_expires_at).limit(CHUNK))
    if seen:
        query = query.where(assignments.c.ticket_id.not_in(seen))
    due = (await session.execute(query)).all()
    for ticket_id, agent_id, presence in due:
        seen.add(ticket_id)
        if not await _lock_ticket(session, ticket_id):
            continue
        current = (await session.execute(select(assignments).where(
            assignments.c.ticket_id == ticket_id))).one()
        if current.status != "offered" or current.agent_id != agent_id:
            continue
        if presence in ("away", "offline"):
            await reroute_unavailable(runtime, session, ticket_id, agent_id, presence, now)
            continue
        if current.offer_expires_at > now:
            continue
        seconds = (current.offer_expires_at - current.assigned_at).total_seconds()
        await release(runtime, session, ticket_id, now, "timed_out",
                      f"no answer within {seconds:g}s")
        missed = policy(runtime).missed_offer_presence
        if missed != "available":
            # Their other open offers (up to their capacity) come up in this job's next
            # chunks: re-routed here, all at once, they held every agent those decisions
            # locked until this chunk's commit, and the consumer's decisions waited.
            await set_presence(runtime, session, agent_id, missed, now, reroute_offers=False)
        await route(runtime, session, ticket_id, now,
                    trigger=f"offer to {agent_id} timed out")
    return len(due)


async def review_queue(runtime: Runtime) -> None:
    """Waiting tickets whose aging step or skill expansion threshold has come: re-rank them
    and try again with the wider pool."""
    now = runtime.clock.now()
    seen: set[UUID] = set()
    for _ in range(BATCH // CHUNK):
        async with runtime.transaction() as uow:
            session = uow.session
            query = (select(queue.c.ticket_id).where(queue.c.review_at <= now)
                     .order_by(queue.c.review_at).limit(CHUNK))
            if seen:
                query = query.where(queue.c.ticket_id.not_in(seen))
            due = (await session.scalars(query)).all()
            for ticket_id in due:
                seen.add(ticket_id)
                if await _lock_ticket(session, ticket_id):
                    await route(runtime, session, ticket_id, now,
                                trigger="waiting: priority aged or pool widened")
        if len(due) < CHUNK:
            return


async def sweep(runtime: Runtime) -> None:
    """Retry the head of each queue: capacity can free while a ticket is being queued by
    another transaction, which then misses it."""
    now = runtime.clock.now()
    async with runtime.transaction() as uow:
        session = uow.session
        heads = (await session.scalars(
            select(queue.c.ticket_id)
            .order_by(queue.c.eff_rank, queue.c.sla_due_at.asc().nulls_last(),
                      queue.c.queued_at).limit(20))).all()
        for ticket_id in heads:
            if await _lock_ticket(session, ticket_id):
                await route(runtime, session, ticket_id, now, trigger="queue sweep")


def queue_gauges(registry: CollectorRegistry) -> dict[str, Gauge]:
    return {
        "depth": Gauge("tierline_router_queue_depth", "Tickets waiting in each queue",
                       ["queue"], registry=registry),
        "oldest": Gauge("tierline_router_queue_oldest_age_seconds",
                        "How long the oldest waiting ticket of each queue has waited",
                        ["queue"], registry=registry),
        "offers": Gauge("tierline_router_offers_open", "Offers not yet answered",
                        registry=registry),
        "agents": Gauge("tierline_router_agents", "Agents by presence", ["presence"],
                        registry=registry),
    }


async def refresh_gauges(runtime: Runtime) -> None:
    context = router_context(runtime)
    gauges = context.gauges
    now = runtime.clock.now()
    async with runtime.sessions() as session:
        rows = (await session.execute(select(queue.c.queue, func.count(),
                                             func.min(queue.c.queued_at))
                                      .group_by(queue.c.queue))).all()
        offers = await session.scalar(select(func.count()).select_from(assignments)
                                      .where(assignments.c.status == "offered"))
        presence = (await session.execute(select(agents.c.presence, func.count())
                                          .group_by(agents.c.presence))).all()
    seen = context.queues_seen
    current = {name for name, _, _ in rows}
    for name in seen - current:
        gauges["depth"].labels(name).set(0)
        gauges["oldest"].labels(name).set(0)
    for name, depth, oldest in rows:
        gauges["depth"].labels(name).set(depth)
        gauges["oldest"].labels(name).set(max(0.0, (now - oldest).total_seconds()))
    seen |= current
    gauges["offers"].set(offers or 0)
    counts = dict(presence)
    for state in ("available", "busy", "away", "offline"):
        gauges["agents"].labels(state).set(counts.get(state, 0))
