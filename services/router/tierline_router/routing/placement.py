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

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from tierline_router.context import router_context
from tierline_router.models import SCHEMA, agents, assignments, history, queue, tickets
from tierline_router.routing.matcher import (
    GENERALIST_SKILL,
    AgentView,
    Decision,
    Need,
    choose,
    why_not,
)
from tierline_router.routing.rules import (
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


_OFFERED = ("agent_id", "channel", "priority", "category", "agent_tier", "attempt",
            "assigned_at", "offer_expires_at")


def _offer_statement(queued: bool) -> Any:
    """An offer's writes as one statement of data-modifying CTEs (PostgreSQL runs each
    exactly once, in the same snapshot; none reads another's rows): the assignment
    (inserted, or the ticket's earlier one replaced), the agent's load (+1 on the channel;
    their row is locked by the decision), the ticket's attempt and last agent, and with
    ``queued`` its queue row deleted."""
    # parameters are named apart from the columns: a name that is a column's makes
    # SQLAlchemy set that column from it in each statement of the CTEs
    offered = {name: bindparam(f"o_{name}") for name in _OFFERED}
    values = {**offered, "status": literal_column("'offered'"), "accepted_at": null(),
              "reasons": bindparam("o_reasons", type_=assignments.c.reasons.type)}
    insert_offer = pg_insert(assignments).values(ticket_id=bindparam("o_ticket_id"), **values)
    parts = [
        insert_offer.on_conflict_do_update(
            index_elements=[assignments.c.ticket_id],
            set_={name: insert_offer.excluded[name] for name in values},
        ).returning(assignments.c.ticket_id).cte("offer"),
        update(agents).where(agents.c.id == bindparam("o_agent_id")).values(
            active_by_channel=text(
                "jsonb_set(active_by_channel, ARRAY[CAST(:o_channel AS text)], "
                "to_jsonb(coalesce((active_by_channel->>CAST(:o_channel AS text))::int, 0) + 1))"),
            active_total=agents.c.active_total + literal_column("1"),
            last_assigned_at=bindparam("o_assigned_at"),
        ).returning(agents.c.id).cte("load"),
        update(tickets).where(tickets.c.ticket_id == bindparam("o_ticket_id")).values(
            attempts=bindparam("o_attempt"), last_agent_id=bindparam("o_agent_id"),
        ).returning(tickets.c.ticket_id).cte("attempt"),
    ]
    if queued:
        parts.append(delete(queue).where(queue.c.ticket_id == bindparam("o_ticket_id"))
                     .returning(queue.c.ticket_id).cte("dequeued"))
    return select(*[select(func.count()).select_from(part).scalar_subquery()
                    for part in parts])


_OFFER = {False: _offer_statement(False), True: _offer_statement(True)}


def policy(runtime: Runtime) -> RoutingPolicy:
    return router_context(runtime).routing_policy


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


# What a decision reads of an agent: the columns the matcher looks at (not the desk ids,
# working hours or audit fields), so each candidate decodes four JSON values, not six.
_AGENT_VIEW = (agents.c.id, agents.c.tier, agents.c.skills, agents.c.channels,
               agents.c.max_total, agents.c.presence, agents.c.languages, agents.c.team,
               agents.c.active_by_channel, agents.c.last_assigned_at)


def _candidates_statement(by_language: bool) -> Select[Any]:
    """The best-placed candidates for a need, by the index order; built once, the need's
    values bound at each execution (building and keying a statement per decision had been
    an eighth of a decision's time)."""
    free_now = and_(agents.c.presence == "available", agents.c.active_total < agents.c.max_total,
                    agents.c.tier <= bindparam("max_tier"))
    query = (select(*_AGENT_VIEW)
             .where(agents.c.skills.has_any(bindparam("keys", type_=ARRAY(Text))),
                    agents.c.channels.has_key(bindparam("channel", type_=Text)),
                    agents.c.tier >= bindparam("min_tier"))
             .order_by(case((free_now, 0), else_=1), agents.c.tier,
                       agents.c.active_total * 1.0 / agents.c.max_total,
                       agents.c.last_assigned_at.asc().nulls_first(), agents.c.id)
             .limit(CANDIDATES))
    if by_language:
        query = query.where(agents.c.languages.has_key(bindparam("language", type_=Text)))
    return query


_CANDIDATES = {False: _candidates_statement(False), True: _candidates_statement(True)}
_AGENT_LOCKED = select(*_AGENT_VIEW).where(agents.c.id == bindparam("agent_id")).with_for_update()


def _candidate_values(need: Need) -> dict[str, Any]:
    keys = [*need.skills, *([GENERALIST_SKILL] if need.generalist_ok else [])]
    values: dict[str, Any] = {"keys": keys, "channel": need.channel,
                              "min_tier": need.min_tier, "max_tier": need.max_tier}
    if need.language:
        values["language"] = need.language
    return values


def _candidates_query(need: Need) -> Any:
    """The candidates statement with ``need``'s values bound (for callers that execute it
    themselves; a decision binds them at execution)."""
    return _CANDIDATES[bool(need.language)].params(**_candidate_values(need))


def _views(rows: Any) -> list[AgentView]:
    """Agents as the matcher sees them, from rows of ``_AGENT_VIEW``."""
    return [AgentView(id=id_, tier=tier, skills=skills, channels=channels, max_total=max_total,
                      presence=presence, languages=tuple(languages or ()), team=team,
                      active_by_channel=active or {}, last_assigned_at=last)
            for (id_, tier, skills, channels, max_total, presence, languages, team, active,
                 last) in rows]


async def decide(session: AsyncSession, need: Need) -> Decision:
    """Choose among the best-placed candidates, then lock the chosen agent and check again:
    another replica may have filled them since."""
    raced: set[str] = set()
    statement, values = _CANDIDATES[bool(need.language)], _candidate_values(need)
    for _ in range(3):
        views = _views((await session.execute(statement, values)).all())
        views = [v for v in views if v.id not in raced]
        decision = choose(need, views)
        if decision.agent is None:
            return decision
        fresh = _views([(await session.execute(_AGENT_LOCKED,
                                               {"agent_id": decision.agent.id})).one()])[0]
        if why_not(fresh, need) is None:
            return Decision(fresh, need, decision.considered,
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
    # the offer, the agent's load, the ticket's attempt (and its queue row): one statement
    await session.execute(_OFFER[queued], {
        "o_ticket_id": ticket.ticket_id, "o_agent_id": agent.id, "o_channel": ticket.channel,
        "o_priority": ticket.priority, "o_category": ticket.category,
        "o_agent_tier": agent.tier, "o_attempt": attempt, "o_assigned_at": now,
        "o_offer_expires_at": expires, "o_reasons": reasons})
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


_TICKET = select(tickets).where(tickets.c.ticket_id == bindparam("ticket"))
_TICKET_LOCKED = {True: _TICKET.with_for_update(), False: _TICKET.with_for_update(skip_locked=True)}
# Whether the ticket is held (offered or accepted) and since when it waits, if it does.
_HELD_AND_QUEUED = select(
    select(assignments.c.agent_id).where(assignments.c.ticket_id == bindparam("ticket"),
                                         assignments.c.status.in_(HOLDING)).scalar_subquery(),
    select(queue.c.queued_at).where(queue.c.ticket_id == bindparam("ticket")).scalar_subquery())


async def locked_ticket(session: AsyncSession, ticket_id: UUID,
                        wait: bool = True) -> Row[Any] | None:
    """The ticket's row, locked; with ``wait=False`` None if another transaction holds it."""
    return (await session.execute(_TICKET_LOCKED[wait], {"ticket": ticket_id})).first()


async def route(runtime: Runtime, session: AsyncSession, ticket_id: UUID, now: datetime,
                trigger: str, inserted: Row[Any] | None = None) -> str | None:
    """Offer the ticket to the best agent who can take it now, or queue it. Returns the agent
    id, or None when it waits (or needs no agent). ``inserted``: the ticket's row as this
    transaction just inserted it (nobody else sees it before the commit: no lock to take)."""
    ticket = inserted if inserted is not None else await locked_ticket(session, ticket_id)
    if ticket is None or ticket.deflected or ticket.status in ("resolved", "closed"):
        return None
    held, queued_at = None, None  # a ticket inserted just now was never offered nor queued
    if inserted is None:
        held, queued_at = (await session.execute(_HELD_AND_QUEUED, {"ticket": ticket_id})).one()
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
