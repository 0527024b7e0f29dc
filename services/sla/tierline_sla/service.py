"""SLA's handlers: each ticket event becomes clock events; each clock is re-folded from
its events, the result stored and its timers re-armed, so it can always be recomputed
exactly (a run of events does this in memory and writes once: :mod:`tierline_sla.clock_run`).
Timers live in PostgreSQL and fire once, whichever replica locks them first."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    Event,
    ReassignmentRequested,
    SlaBreached,
    SlaClockStarted,
    SlaWarning,
    TicketAssigned,
    TicketCommented,
    TicketCreated,
    TicketEscalated,
    TicketEvent,
    TicketPriorityChanged,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import BatchHandler, Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.sla_policy import DEFAULT_PROFILE, SlaPolicy
from tierline_shared.unit_of_work import UnitOfWork, add_row
from tierline_sla import incidents
from tierline_sla.clock import ClockEvent, ClockState, Kind, fold
from tierline_sla.clock_run import ClockRun
from tierline_sla.escalation import (
    Escalation,
    EscalationPolicy,
    Signals,
    TicketView,
    act,
    matching_rules,
    predictive,
    sentiment,
    time_reason,
)
from tierline_sla.models import clock_events, clocks, escalations, history, tickets, timers

log = logging.getLogger(__name__)


def sla_policy(runtime: Runtime) -> SlaPolicy:
    return runtime.state["sla_policy"]  # type: ignore[no-any-return]


def escalation_policy(runtime: Runtime) -> EscalationPolicy:
    return runtime.state["escalation_policy"]  # type: ignore[no-any-return]


async def add_history(session: AsyncSession, ticket_id: UUID, envelope: Envelope,
                      detail: dict[str, Any]) -> None:
    await add_row(session, history, dict(
        ticket_id=ticket_id, event_id=envelope.id, event_type=envelope.type, at=envelope.time,
        detail=detail))


async def emit(runtime: Runtime, session: AsyncSession, event: Event,
               ticket_id: UUID | None = None, detail: dict[str, Any] | None = None) -> Envelope:
    """Publish an event on the sla topic (through the outbox) and, for a ticket, keep it in
    the ticket's SLA history."""
    envelope = runtime.envelope(event)
    await runtime.emit(session, runtime.topics.sla, envelope)
    if ticket_id is not None:
        await add_history(session, ticket_id, envelope, detail or {})
    return envelope


async def _record(uow: UnitOfWork, d: Delivered[TicketEvent], detail: dict[str, Any]) -> None:
    await add_history(uow.session, d.event.ticket_id, d.envelope, detail)


async def load_events(session: AsyncSession, ticket_id: UUID, clock: str) -> list[ClockEvent]:
    rows = (await session.execute(
        select(clock_events.c.at, clock_events.c.kind, clock_events.c.priority)
        .where(clock_events.c.ticket_id == ticket_id, clock_events.c.clock == clock)
        .order_by(clock_events.c.at, clock_events.c.id))).all()
    return [ClockEvent(at, kind, priority) for at, kind, priority in rows]


async def clock_profile(session: AsyncSession, ticket_id: UUID) -> str:
    profile = await session.scalar(select(clocks.c.profile).where(clocks.c.ticket_id == ticket_id)
                                   .limit(1))
    return profile or DEFAULT_PROFILE


def clock_run(runtime: Runtime, session: AsyncSession) -> ClockRun:
    return ClockRun(session, sla_policy(runtime), escalation_policy(runtime))


async def _start_clock(runtime: Runtime, uow: UnitOfWork, run: ClockRun, ticket_id: UUID,
                       clock: str, at: datetime, priority: str,
                       profile: str) -> ClockState | None:
    state = run.apply(ticket_id, clock, "start", at, priority, profile)
    if state is not None and state.due_at is not None:
        uow.emit(runtime.topics.sla, runtime.envelope(SlaClockStarted(
            ticket_id=ticket_id, clock=clock, priority=priority, started_at=at,
            due_at=state.due_at, target_seconds=state.target_seconds)))
    return state


# The ticket events sla acts on, applied by one handler (:func:`ticket_events`).
TICKET_EVENTS: tuple[type[TicketEvent], ...] = (
    TicketCreated, TicketAssigned, TicketStatusChanged, TicketPriorityChanged, TicketCommented,
    ReassignmentRequested)


def ticket_events(runtime: Runtime) -> BatchHandler:
    """One handler for every ticket event sla acts on: the run's clocks are read once,
    each event is applied in order by its own function, the clocks written once."""
    each: dict[type[Event], Any] = {
        TicketCreated: on_ticket_created, TicketAssigned: on_ticket_assigned,
        TicketStatusChanged: on_status_changed, TicketPriorityChanged: on_priority_changed,
        TicketCommented: on_commented, ReassignmentRequested: on_reassignment_requested}

    async def apply_run(uow: UnitOfWork, events: Sequence[Delivered[Any]]) -> None:
        run = clock_run(runtime, uow.session)
        await run.load({d.event.ticket_id for d in events})
        for delivered in events:
            await each[type(delivered.event)](runtime, uow, run, delivered)
        await run.write()

    return apply_run


async def on_ticket_created(runtime: Runtime, uow: UnitOfWork, run: ClockRun,
                            d: Delivered[TicketCreated]) -> None:
    event = d.event
    session = uow.session
    inserted = await session.scalar(pg_insert(tickets).values(
        ticket_id=event.ticket_id, ticket_type=event.ticket_type, title=event.title,
        category=event.category, priority=event.priority, channel=event.channel,
        requester_id=event.requester_id, plan=event.plan, service=event.service,
        configuration_item=event.configuration_item, business_critical=event.business_critical,
        affected_scope=event.affected_scope, workaround_available=event.workaround_available,
        compliance_exposure=event.compliance_exposure, status="new",
        created_at=event.created_at,
    ).on_conflict_do_nothing().returning(tickets.c.ticket_id))
    if inserted is None:
        return  # the same ticket created twice: its clocks already run
    policy = sla_policy(runtime)
    profile = policy.profile_for(event.ticket_type, event.channel, event.plan)
    resolution_start = event.created_at
    detail: dict[str, Any] = {"priority": event.priority, "profile": profile,
                              "calendar": policy.calendar_for(event.priority, profile).name}
    if (policy.start_for(profile) == "reported" and event.reported_start is not None
            and event.reported_start < event.created_at):
        resolution_start = event.reported_start
        detail["resolution_started_at"] = resolution_start.isoformat()
    await _start_clock(runtime, uow, run, event.ticket_id, "first_response", event.created_at,
                       event.priority, profile)
    await _start_clock(runtime, uow, run, event.ticket_id, "resolution", resolution_start,
                       event.priority, profile)
    detail["clocks_started"] = ["first_response", "resolution"]
    await _record(uow, d, detail)
    await _repeat_contacts(runtime, uow, event)
    await incidents.on_ticket_logged(runtime, session, event)


async def _repeat_contacts(runtime: Runtime, uow: UnitOfWork, event: TicketCreated) -> None:
    """Escalate a new ticket whose requester keeps coming back about the same category.
    The ticket was inserted just now, so its other signals are at their start (no message,
    reassignment or reopen yet, tier 0, no escalation fired): only the count is read."""
    rule = escalation_policy(runtime).predictive.repeat_contacts
    if rule is None:
        return
    since = event.created_at - timedelta(days=rule.window_days)
    contacts = await uow.session.scalar(
        select(func.count()).select_from(tickets).where(
            tickets.c.requester_id == event.requester_id, tickets.c.category == event.category,
            tickets.c.created_at >= since, tickets.c.created_at <= event.created_at))
    signals = Signals(repeat_contacts=int(contacts or 1))  # every other signal at its start
    view = TicketView(priority=event.priority, category=event.category, tier=0)
    for trigger, action, reason in predictive(escalation_policy(runtime).predictive, signals,
                                              []):
        escalation = act(action, trigger, reason, view)
        if escalation is not None:
            await escalate(runtime, uow.session, event.ticket_id, escalation, trigger,
                           event.created_at)


async def on_ticket_assigned(runtime: Runtime, uow: UnitOfWork, run: ClockRun,
                             d: Delivered[TicketAssigned]) -> None:
    event = d.event
    await uow.session.execute(update(tickets).where(tickets.c.ticket_id == event.ticket_id)
                              .values(tier=event.agent_tier, agent_id=event.agent_id))
    await _record(uow, d, {"agent_id": event.agent_id, "agent_tier": event.agent_tier,
                        "assigned_at": event.assigned_at.isoformat()})


async def on_status_changed(runtime: Runtime, uow: UnitOfWork, run: ClockRun,
                            d: Delivered[TicketStatusChanged]) -> None:
    """The first move out of new is the first response (later updates do not reset it) and
    starts the update clock; entering a pause status pauses the resolution and update clocks
    and leaving it resumes them; an agent's status change is a public update (restarts the
    update clock); resolution stops them; a reopen resumes them."""
    event = d.event
    session, tid, at = uow.session, event.ticket_id, event.changed_at
    row = (await session.execute(select(tickets).where(tickets.c.ticket_id == tid))).first()
    profile = run.profile(tid)
    pauses = set(sla_policy(runtime).pauses_for(profile))
    detail: dict[str, Any] = {"from": event.from_status, "to": event.to_status}
    by_requester = row is not None and event.actor == row.requester_id
    values: dict[str, Any] = {"status": event.to_status}
    if event.to_status == "reopened":
        values["reopens"] = tickets.c.reopens + 1
    await session.execute(update(tickets).where(tickets.c.ticket_id == tid).values(**values))
    if event.from_status == "new":
        state = run.apply(tid, "first_response", "stop", at)
        detail["first_response"] = state.status if state else None
        if event.to_status not in ("resolved", "closed"):
            await _start_clock(runtime, uow, run, tid, "update", at, event.priority, profile)
    entering = event.to_status in pauses and event.from_status not in pauses
    leaving = event.from_status in pauses and event.to_status not in pauses
    steps: list[tuple[str, Kind]] = []
    if leaving and event.to_status not in ("resolved", "closed"):
        steps += [("resolution", "resume"), ("update", "resume")]
    if entering:
        steps += [("resolution", "pause"), ("update", "pause")]
    if event.to_status == "resolved":
        steps += [("resolution", "stop"), ("update", "stop")]
    elif event.to_status == "reopened":
        steps += [("resolution", "reopen"), ("update", "reopen")]
    elif (event.from_status != "new" and not by_requester and not entering and not leaving
          and event.to_status != "closed"):
        steps.append(("update", "restart"))  # an agent's status change is a public update
    for clock, kind in steps:
        state = run.apply(tid, clock, kind, at)
        if state is not None:
            detail[clock] = state.status
    await _record(uow, d, {k: v for k, v in detail.items() if v is not None})
    if event.to_status == "reopened":
        await _predict(runtime, session, tid, at)


async def on_commented(runtime: Runtime, uow: UnitOfWork, run: ClockRun,
                       d: Delivered[TicketCommented]) -> None:
    """A customer's message is scored for sentiment; an agent's public comment is an update
    (restarts the update clock); every message counts as an interaction."""
    event = d.event
    session, tid = uow.session, event.ticket_id
    values: dict[str, Any] = {"interactions": tickets.c.interactions + 1}
    detail: dict[str, Any] = {"author": event.author, "from_requester": event.from_requester}
    if event.from_requester:
        score = sentiment(event.text)
        detail["sentiment"] = round(score, 3)
        threshold = escalation_policy(runtime).predictive.sentiment
        if threshold is not None and score <= threshold.threshold:
            values["negative_messages"] = tickets.c.negative_messages + 1
        values["worst_sentiment"] = func.least(tickets.c.worst_sentiment, score)
    elif event.public:
        state = run.apply(tid, "update", "restart", event.commented_at)
        if state is not None:
            detail["update"] = "restarted"
    await session.execute(update(tickets).where(tickets.c.ticket_id == tid).values(**values))
    await _record(uow, d, detail)
    await _predict(runtime, session, tid, event.commented_at)


async def on_reassignment_requested(runtime: Runtime, uow: UnitOfWork, run: ClockRun,
                                    d: Delivered[ReassignmentRequested]) -> None:
    event = d.event
    await uow.session.execute(update(tickets).where(tickets.c.ticket_id == event.ticket_id)
                              .values(reassignments=tickets.c.reassignments + 1))
    await _record(uow, d, {"reassignment_requested_by": event.requested_by,
                        "reason": event.reason})
    if event.to_tier is not None or event.to_skill is not None:
        # an agent passing the work to a higher tier or another skill is a functional
        # escalation, counted like any other (router acts on the request itself)
        await escalate(runtime, uow.session, event.ticket_id, Escalation(
            "functional", "agent-request", f"{event.requested_by}: {event.reason}",
            to_tier=event.to_tier, to_skill=event.to_skill), "agent", event.requested_at)
    await _predict(runtime, uow.session, event.ticket_id, event.requested_at)


async def on_priority_changed(runtime: Runtime, uow: UnitOfWork, run: ClockRun,
                              d: Delivered[TicketPriorityChanged]) -> None:
    """Re-target every clock to the new priority, keeping the time already accrued."""
    event = d.event
    await uow.session.execute(update(tickets).where(tickets.c.ticket_id == event.ticket_id)
                              .values(priority=event.to_priority))
    detail: dict[str, Any] = {"from": event.from_priority, "to": event.to_priority}
    for clock in ("first_response", "resolution", "update"):
        state = run.apply(event.ticket_id, clock, "priority", event.changed_at,
                          event.to_priority)
        if state is not None:
            detail[clock] = state.due_at.isoformat() if state.due_at else state.status
    await _record(uow, d, detail)


async def read_clocks(session: AsyncSession, ticket_id: UUID) -> tuple[list[Any], list[Any]]:
    rows = (await session.execute(select(clocks).where(clocks.c.ticket_id == ticket_id)
                                  .order_by(clocks.c.clock))).all()
    events = (await session.execute(select(history).where(history.c.ticket_id == ticket_id)
                                    .order_by(history.c.id))).all()
    return rows, events


# --- escalation -----------------------------------------------------------------------

async def escalate(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                   escalation: Escalation, trigger: str, at: datetime,
                   clock: str | None = None) -> bool:
    """Record and publish an escalation at its level; False once the kind is at its
    maximum level (kept in the history, not published)."""
    level = 1 + int(await session.scalar(
        select(func.count()).select_from(escalations)
        .where(escalations.c.ticket_id == ticket_id, escalations.c.kind == escalation.kind))
        or 0)
    if level > escalation_policy(runtime).max_level:
        await add_row(session, history, dict(
            ticket_id=ticket_id, event_id=uuid4(), event_type="tierline.sla.escalation_capped",
            at=at, detail={"rule": escalation.rule, "kind": escalation.kind,
                           "reason": f"{escalation.reason}; not escalated: the "
                                     f"{escalation.kind} maximum level "
                                     f"{escalation_policy(runtime).max_level} is reached"}))
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


async def _view(session: AsyncSession, ticket_id: UUID) -> Any:
    return (await session.execute(select(tickets).where(tickets.c.ticket_id == ticket_id))).first()


async def _predict(runtime: Runtime, session: AsyncSession, ticket_id: UUID,
                   at: datetime) -> None:
    """Escalate on the ticket's signals, before any breach; each signal once per ticket."""
    row = await _view(session, ticket_id)
    if row is None or row.status in ("resolved", "closed"):
        return
    signals = Signals(negative_messages=row.negative_messages,
                      worst_sentiment=row.worst_sentiment, reassignments=row.reassignments,
                      interactions=row.interactions, reopens=row.reopens)
    fired = (await session.scalars(select(escalations.c.trigger).where(
        escalations.c.ticket_id == ticket_id))).all()
    view = TicketView(priority=row.priority, category=row.category, tier=row.tier)
    for trigger, action, reason in predictive(escalation_policy(runtime).predictive, signals,
                                              fired):
        escalation = act(action, trigger, reason, view)
        if escalation is not None:
            await escalate(runtime, session, ticket_id, escalation, trigger, at)


# --- timers ---------------------------------------------------------------------------

async def fire_due(runtime: Runtime, limit: int = 500) -> int:
    """Fire the timers that are due, once each: rows are locked with SKIP LOCKED, marked
    fired and their events written to the outbox in one transaction."""
    now = runtime.clock.now()
    async with runtime.transaction() as uow:
        session = uow.session
        due = (await session.execute(
            select(timers).where(timers.c.fired_at.is_(None), timers.c.due_at <= now)
            .order_by(timers.c.due_at).limit(limit).with_for_update(skip_locked=True))).all()
        # Lock the tickets in one order, so a replica firing another of their timers (or a
        # handler escalating them) waits instead of taking the same escalation level.
        await session.execute(select(tickets.c.ticket_id)
                              .where(tickets.c.ticket_id.in_({t.ticket_id for t in due}))
                              .order_by(tickets.c.ticket_id).with_for_update())
        for timer in sorted(due, key=lambda t: (t.ticket_id, t.due_at, t.threshold)):
            await session.execute(update(timers).where(timers.c.id == timer.id)
                                  .values(fired_at=now))
            await _fire(runtime, session, timer, now)
        fired_updates = await incidents.remind_updates(runtime, session, now, limit)
    return len(due) + fired_updates


async def _fire(runtime: Runtime, session: AsyncSession, timer: Any, now: datetime) -> None:
    clock, percent, tid = timer.clock, timer.threshold, timer.ticket_id
    row = await _view(session, tid)
    profile = await clock_profile(session, tid)
    if percent == 100:
        await emit(runtime, session, SlaBreached(
            ticket_id=tid, clock=clock, priority=timer.priority, due_at=timer.due_at,
            target_seconds=timer.target_seconds, at=now), tid,
            {"clock": clock, "due_at": timer.due_at.isoformat()})
    elif percent in sla_policy(runtime).warnings_for(profile):
        state = fold(sla_policy(runtime), clock, await load_events(session, tid, clock),
                     profile=profile)
        await emit(runtime, session, SlaWarning(
            ticket_id=tid, clock=clock, priority=timer.priority, threshold_percent=percent,
            due_at=state.due_at or timer.due_at, target_seconds=timer.target_seconds, at=now), tid,
            {"clock": clock, "warning_percent": percent})
    if row is None:
        return
    view = TicketView(priority=timer.priority, category=row.category, tier=row.tier)
    for rule in matching_rules(escalation_policy(runtime), clock, percent, view):
        escalation = act(rule, rule.name, time_reason(rule, clock, percent, timer.priority), view)
        if escalation is not None:
            await escalate(runtime, session, tid, escalation, "time", now, clock)
    if clock == "resolution":
        await incidents.on_clock_threshold(runtime, session, row, timer, now)
