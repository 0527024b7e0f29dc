"""Escalations in PostgreSQL around the pure matrix (:mod:`.domain`): each one recorded
at its level (up to the policy's maximum) and published; the predictive signals of a ticket
checked whenever they move, each trigger once per ticket."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.events import TicketEscalated
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import add_row
from tierline_sla.context import sla_context
from tierline_sla.escalations.domain import Escalation, Signals, TicketView, act, predictive
from tierline_sla.models import escalations, history, tickets
from tierline_sla.recorder import emit

log = logging.getLogger(__name__)


async def escalate(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                   escalation: Escalation, trigger: str, at: datetime,
                   clock: str | None = None) -> bool:
    """Record and publish an escalation at its level; False once the kind is at its
    maximum level (kept in the history, not published)."""
    max_level = sla_context(runtime).escalation_policy.max_level
    level = 1 + int(await session.scalar(
        select(func.count()).select_from(escalations)
        .where(escalations.c.ticket_id == ticket_id, escalations.c.kind == escalation.kind))
        or 0)
    if level > max_level:
        await add_row(session, history, dict(
            ticket_id=ticket_id, event_id=uuid4(), event_type="tierline.sla.escalation_capped",
            at=at, detail={"rule": escalation.rule, "kind": escalation.kind,
                           "reason": f"{escalation.reason}; not escalated: the "
                                     f"{escalation.kind} maximum level "
                                     f"{max_level} is reached"}))
        return False
    await session.execute(insert(escalations).values(
        ticket_id=ticket_id, kind=escalation.kind, level=level, trigger=trigger,
        rule=escalation.rule, reason=escalation.reason, at=at))
    event = TicketEscalated(
        ticket_id=ticket_id, kind=escalation.kind, level=level, trigger=trigger,  # type: ignore[arg-type]
        rule=escalation.rule, reason=escalation.reason, clock=clock,  # type: ignore[arg-type]
        to_tier=escalation.to_tier, to_skill=escalation.to_skill,
        notify=list(escalation.notify),  # type: ignore[arg-type]
        raise_priority_to=escalation.raise_priority_to,  # type: ignore[arg-type]
        escalated_at=at)
    await emit(runtime, session, event, ticket_id, {
        "escalation": escalation.kind, "level": level, "trigger": trigger,
        "rule": escalation.rule, "reason": escalation.reason})
    log.info("ticket escalated", extra={"ticket_id": str(ticket_id), "kind": escalation.kind,
                                        "level": level, "rule": escalation.rule})
    return True


async def ticket_row(session: AsyncSession, ticket_id: UUID) -> Any:
    return (await session.execute(select(tickets).where(tickets.c.ticket_id == ticket_id))).first()


async def predict(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                   at: datetime) -> None:
    """Escalate on the ticket's signals, before any breach; each signal once per ticket."""
    row = await ticket_row(session, ticket_id)
    if row is None or row.status in ("resolved", "closed"):
        return
    signals = Signals(negative_messages=row.negative_messages,
                      worst_sentiment=row.worst_sentiment, reassignments=row.reassignments,
                      interactions=row.interactions, reopens=row.reopens)
    fired = (await session.scalars(select(escalations.c.trigger).where(
        escalations.c.ticket_id == ticket_id))).all()
    view = TicketView(priority=row.priority, category=row.category, tier=row.tier)
    await escalate_on_signals(runtime, session, ticket_id, signals, view, fired, at)


async def escalate_on_signals(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                              signals: Signals, view: TicketView, fired: Sequence[str],
                              at: datetime) -> None:
    """Escalate for each predictive rule ``signals`` meet that has not ``fired`` yet."""
    policy = sla_context(runtime).escalation_policy
    for trigger, action, reason in predictive(policy.predictive, signals, fired):
        escalation = act(action, trigger, reason, view)
        if escalation is not None:
            await escalate(runtime, session, ticket_id, escalation, trigger, at)
