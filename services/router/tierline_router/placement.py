"""Router's I/O around the matcher and the rules: offer, release, queue, drain.

Every function runs inside the caller's transaction (a consumer batch, a request or a job);
none commits. An agent's load is changed only with the agent's row locked, so replicas
never place more work on an agent than its capacity.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Text, and_, case, cast, delete, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.matcher import GENERALIST_SKILL, AgentView, Decision, Need, choose, why_not
from tierline_router.models import SCHEMA, agents, assignments, history, queue, tickets
from tierline_router.rules import (
    RoutingPolicy,
    TicketFacts,
    acceptance_of,
    effective_rank,
    need_for,
    next_review_s,
)
from tierline_shared.bus.events import TicketAssigned, TicketOfferAnswered, TicketQueued
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import add_row

log = logging.getLogger(__name__)

CANDIDATES = 64  # agents a decision looks at: the best-placed by the index order, not all
HOLDING = ("offered", "accepted")

_LOAD = text(f"""
    UPDATE {SCHEMA}.agents SET
      active_by_channel = jsonb_set(active_by_channel, ARRAY[CAST(:channel AS text)],
          to_jsonb(greatest(0, coalesce((active_by_channel->>CAST(:channel AS text))::int, 0)
                               + :delta))),
      active_total = greatest(0, active_total + :delta),
      last_assigned_at = coalesce(CAST(:at AS timestamptz), last_assigned_at)
    WHERE id = :agent_id""")


def policy(runtime: Runtime) -> RoutingPolicy:
    return runtime.state["routing_policy"]  # type: ignore[no-any-return]


def offer_timeout(runtime: Runtime) -> timedelta:
    seconds = runtime.settings.router_offer_timeout_s or policy(runtime).offer_timeout_s
    return timedelta(seconds=seconds)


def facts(row: Row[Any]) -> TicketFacts:
    return TicketFacts(ticket_type=row.ticket_type, category=row.category,
                       priority=row.priority, channel=row.channel,
                       subcategory=row.subcategory, language=row.language, plan=row.plan,
                       vip=row.vip, triage=row.triage, escalated_tier=row.escalated_tier,
                       escalated_skill=row.escalated_skill)


def agent_view(row: Row[Any]) -> AgentView:
    return AgentView(id=row.id, tier=row.tier, skills=row.skills, channels=row.channels,
                     max_total=row.max_total, presence=row.presence,
                     languages=tuple(row.languages or ()), team=row.team,
                     active_by_channel=row.active_by_channel or {},
                     last_assigned_at=row.last_assigned_at)


async def record(session: AsyncSession, ticket_id: UUID, at: datetime, action: str,
                 agent_id: str | None = None, **detail: Any) -> None:
    await add_row(session, history, dict(ticket_id=ticket_id, at=at, action=action,
                                         agent_id=agent_id, detail=detail))


async def change_load(session: AsyncSession, agent_id: str, channel: str, delta: int,
                      assigned_at: datetime | None = None) -> None:
    """Change the agent's live load (their row must be locked by the caller)."""
    await session.execute(_LOAD, {"agent_id": agent_id, "channel": channel, "delta": delta,
                                  "at": assigned_at})


def _candidates_query(need: Need) -> Any:
    keys = [*need.skills, *([GENERALIST_SKILL] if need.generalist_ok else [])]
    free_now = and_(agents.c.presence == "available", agents.c.active_total < agents.c.max_total,
                    agents.c.tier <= need.max_tier)
    query = (select(agents)
             .where(agents.c.skills.has_any(cast(keys, ARRAY(Text))),
                    agents.c.channels.has_key(need.channel),
                    agents.c.tier >= need.min_tier)
             .order_by(case((free_now, 0), else_=1), agents.c.tier,
                       agents.c.active_total * 1.0 / agents.c.max_total,
                       agents.c.last_assigned_at.asc().nulls_first(), agents.c.id)
             .limit(CANDIDATES))
    if need.language:
        query = query.where(agents.c.languages.has_key(need.language))
    return query


async def decide(session: AsyncSession, need: Need) -> Decision:
    """Choose among the best-placed candidates, then lock the chosen agent and check again:
    another replica may have filled them since."""
    raced: set[str] = set()
    for _ in range(3):
        views = [agent_view(r) for r in (await session.execute(_candidates_query(need))).all()]
        views = [v for v in views if v.id not in raced]
        decision = choose(need, views)
        if decision.agent is None:
            return decision
        fresh = (await session.execute(select(agents).where(agents.c.id == decision.agent.id)
                                       .with_for_update())).one()
        if why_not(agent_view(fresh), need) is None:
            return Decision(agent_view(fresh), need, decision.considered,
                            decision.passed_over, decision.kinds)
        raced.add(decision.agent.id)
    return Decision(None, need, [], {"*": "candidates kept filling up"}, {"*": "raced"})


async def offer(runtime: Runtime, session: AsyncSession, ticket: Row[Any], decision: Decision,
                now: datetime, trigger: str, queued: bool = True) -> str:
    """Offer the ticket to the decision's agent; their capacity is held until they answer."""
    agent = decision.agent
    assert agent is not None
    attempt = ticket.attempts + 1
    reasons = decision.reasons() | {"trigger": trigger}
    acceptance = acceptance_of(policy(runtime), decision.need.rule)
    expires = None if acceptance != "offer" else now + offer_timeout(runtime)
    values = {"agent_id": agent.id, "status": "offered", "channel": ticket.channel,
              "priority": ticket.priority, "category": ticket.category,
              "agent_tier": agent.tier, "attempt": attempt, "assigned_at": now,
              "offer_expires_at": expires, "accepted_at": None, "reasons": reasons}
    await session.execute(pg_insert(assignments).values(ticket_id=ticket.ticket_id, **values)
                          .on_conflict_do_update(index_elements=[assignments.c.ticket_id],
                                                 set_=values))
    await change_load(session, agent.id, ticket.channel, +1, assigned_at=now)
    await session.execute(update(tickets).where(tickets.c.ticket_id == ticket.ticket_id)
                          .values(attempts=attempt, last_agent_id=agent.id))
    if queued:
        await session.execute(delete(queue).where(queue.c.ticket_id == ticket.ticket_id))
    await record(session, ticket.ticket_id, now, "offered", agent.id, attempt=attempt,
                 trigger=trigger, rule=reasons["rule"])
    await runtime.emit(session, runtime.topics.routing, runtime.envelope(TicketAssigned(
        ticket_id=ticket.ticket_id, agent_id=agent.id, agent_tier=agent.tier,
        priority=ticket.priority, category=ticket.category, channel=ticket.channel,
        assigned_at=now, reasons=reasons, attempt=attempt, agent_team=agent.team,
        previous_agent_id=ticket.last_agent_id, offer_expires_at=expires)))
    if acceptance == "auto_accept":
        await _auto_accept(runtime, session, ticket.ticket_id, now)
    log.info("ticket offered", extra={"ticket_id": str(ticket.ticket_id), "agent_id": agent.id,
                                      "attempt": attempt})
    return agent.id


async def accepted_event(session: AsyncSession, assignment: Row[Any],
                         now: datetime) -> TicketOfferAnswered:
    """The assignment is final: carries the agent's desk ids and the reasons, for the desks'
    write-back."""
    desk_ids = await session.scalar(select(agents.c.desk_ids).where(
        agents.c.id == assignment.agent_id))
    return TicketOfferAnswered(ticket_id=assignment.ticket_id, agent_id=assignment.agent_id,
                               outcome="accepted", answered_at=now,
                               agent_desk_ids=desk_ids or {}, reasons=assignment.reasons,
                               attempt=assignment.attempt)


async def _auto_accept(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                       now: datetime) -> None:
    """The rule makes the decision final at once: accepted, and announced for write-back."""
    row = (await session.execute(update(assignments).where(
        assignments.c.ticket_id == ticket_id).values(status="accepted", accepted_at=now)
        .returning(assignments))).one()
    await record(session, ticket_id, now, "accepted", row.agent_id, reason="auto_accept")
    event = await accepted_event(session, row, now)
    await runtime.emit(session, runtime.topics.routing, runtime.envelope(
        event.model_copy(update={"reason": "auto_accept"})))


async def release(runtime: Runtime, session: AsyncSession, ticket_id: UUID, now: datetime,
                  outcome: str | None, reason: str | None = None) -> Row[Any] | None:
    """Take the ticket off its agent (offered or accepted), freeing their capacity. With an
    ``outcome`` the offer was answered (declined, timed out, ...) and that is published."""
    row = (await session.execute(
        update(assignments).where(assignments.c.ticket_id == ticket_id,
                                  assignments.c.status.in_(HOLDING))
        .values(status="released", offer_expires_at=None).returning(assignments))).first()
    if row is None:
        return None
    await session.execute(select(agents.c.id).where(agents.c.id == row.agent_id)
                          .with_for_update())
    await change_load(session, row.agent_id, row.channel, -1)
    await record(session, ticket_id, now, outcome or "released", row.agent_id,
                 **({"reason": reason} if reason else {}))
    if outcome is not None:
        await runtime.emit(session, runtime.topics.routing, runtime.envelope(TicketOfferAnswered(
            ticket_id=ticket_id, agent_id=row.agent_id, outcome=outcome,  # type: ignore[arg-type]
            reason=reason, answered_at=now, attempt=row.attempt)))
    return row


async def locked_ticket(session: AsyncSession, ticket_id: UUID,
                        wait: bool = True) -> Row[Any] | None:
    """The ticket's row, locked; with ``wait=False`` None if another transaction holds it."""
    return (await session.execute(select(tickets).where(tickets.c.ticket_id == ticket_id)
                                  .with_for_update(skip_locked=not wait))).first()


async def route(runtime: Runtime, session: AsyncSession, ticket_id: UUID, now: datetime,
                trigger: str) -> str | None:
    """Offer the ticket to the best agent who can take it now, or queue it. Returns the agent
    id, or None when it waits (or needs no agent)."""
    ticket = await locked_ticket(session, ticket_id)
    if ticket is None or ticket.deflected or ticket.status in ("resolved", "closed"):
        return None
    held, queued_at = (await session.execute(select(
        select(assignments.c.agent_id).where(assignments.c.ticket_id == ticket_id,
                                             assignments.c.status.in_(HOLDING))
        .scalar_subquery(),
        select(queue.c.queued_at).where(queue.c.ticket_id == ticket_id).scalar_subquery(),
    ))).one()
    if held is not None:
        return held  # type: ignore[no-any-return]
    waited = (now - queued_at).total_seconds() if queued_at else 0.0
    need = need_for(policy(runtime), facts(ticket), waited_s=waited,
                    excluded=frozenset(ticket.declined_by))
    decision = await decide(session, need)
    if decision.agent is not None:
        return await offer(runtime, session, ticket, decision, now, trigger,
                           queued=queued_at is not None)
    await enqueue(runtime, session, ticket, need, decision, now, queued_at)
    return None


async def enqueue(runtime: Runtime, session: AsyncSession, ticket: Row[Any], need: Need,
                  decision: Decision, now: datetime, queued_at: datetime | None) -> None:
    pol = policy(runtime)
    since = queued_at or now
    waited = (now - since).total_seconds()
    review = next_review_s(pol, waited)
    skill_list = ", ".join(need.skills)
    reason = (f"no available agent with {skill_list} in tiers {need.min_tier}-{need.max_tier}"
              f" and free {need.channel} capacity")
    values = {"queue": need.queue, "priority": ticket.priority,
              "eff_rank": effective_rank(pol, ticket.priority, waited),
              "category": ticket.category, "channel": ticket.channel,
              "skill": need.primary_skill, "generalist": need.generalist_ok,
              "min_tier": need.min_tier, "max_tier": need.max_tier,
              "sla_due_at": ticket.sla_due_at,
              "review_at": since + timedelta(seconds=review) if review is not None else None,
              "reason": reason, "triage": ticket.triage}
    await session.execute(
        pg_insert(queue).values(ticket_id=ticket.ticket_id, queued_at=since, **values)
        .on_conflict_do_update(index_elements=[queue.c.ticket_id], set_=values))
    if queued_at is None:
        await record(session, ticket.ticket_id, now, "queued", None, queue=need.queue,
                     reason=reason, passed_over=decision.passed_over_counts())
        await runtime.emit(session, runtime.topics.routing, runtime.envelope(TicketQueued(
            ticket_id=ticket.ticket_id, priority=ticket.priority, category=ticket.category,
            queued_at=now, reason=reason, attempt=ticket.attempts)))
        log.info("ticket queued", extra={"ticket_id": str(ticket.ticket_id), "reason": reason})


async def offer_waiting_to(runtime: Runtime, session: AsyncSession, agent_id: str,
                           now: datetime, trigger: str) -> int:
    """An agent freed capacity or came online: offer them the best waiting tickets they can
    take (earned priority, then SLA due time, then oldest), until they are full."""
    placed = 0
    while True:
        row = (await session.execute(select(agents).where(agents.c.id == agent_id)
                                     .with_for_update())).first()
        if row is None or row.presence != "available" or row.active_total >= row.max_total:
            return placed
        agent = agent_view(row)
        free = [ch for ch in agent.channels if agent.free_on(ch)]
        if not free:
            return placed
        ticket = await _best_waiting_for(runtime, session, agent, free, now)
        if ticket is None:
            return placed
        ticket_row, need = ticket
        decision = Decision(agent, need, [agent.id], {})
        await offer(runtime, session, ticket_row, decision, now, trigger)
        placed += 1


async def _best_waiting_for(runtime: Runtime, session: AsyncSession, agent: AgentView,
                            free: Sequence[str], now: datetime,
                            ) -> tuple[Row[Any], Need] | None:
    skills = list(agent.skills)
    skilled = queue.c.skill.in_(skills)
    if GENERALIST_SKILL in agent.skills:
        skilled = or_(skilled, queue.c.generalist)
    base = (select(queue.c.ticket_id, queue.c.queued_at).where(
        queue.c.channel.in_(free), queue.c.min_tier <= agent.tier,
        queue.c.max_tier >= agent.tier, skilled)
        .order_by(queue.c.eff_rank, queue.c.sla_due_at.asc().nulls_last(), queue.c.queued_at)
        .with_for_update(skip_locked=True))
    pol = policy(runtime)
    for page in range(4):
        rows = (await session.execute(base.limit(25).offset(page * 25))).all()
        for queued in rows:
            # this path holds the agent's row: take the ticket only if nobody holds it
            ticket = await locked_ticket(session, queued.ticket_id, wait=False)
            if ticket is None:
                continue
            need = need_for(pol, facts(ticket),
                            waited_s=(now - queued.queued_at).total_seconds(),
                            excluded=frozenset(ticket.declined_by))
            if why_not(agent, need) is None:
                return ticket, need
        if len(rows) < 25:
            return None
    return None
