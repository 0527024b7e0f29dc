"""What sla does with each ticket event it consumes: the ticket's SLA clocks move (started,
stopped, paused, resumed, restarted, re-targeted), its predictive escalation signals are
checked, a logged incident may join or declare a major incident and a problem, and the
event is kept in the ticket's SLA history. A consumed run of events is applied in order with
its tickets' clocks in memory, written once at the end
(:class:`~tierline_sla.clocks.run.ClockRun`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tierline_shared.bus.events import (
    Event,
    ReassignmentRequested,
    TicketAssigned,
    TicketCommented,
    TicketCreated,
    TicketEvent,
    TicketPriorityChanged,
    TicketStatusChanged,
)
from tierline_shared.bus.handlers import BatchHandler, Delivered
from tierline_shared.runtime import Runtime
from tierline_shared.unit_of_work import UnitOfWork
from tierline_sla.clocks.domain import Kind
from tierline_sla.clocks.run import ClockRun
from tierline_sla.clocks.service import clock_run, start_clock
from tierline_sla.context import sla_context
from tierline_sla.escalations.domain import (
    Escalation,
    Signals,
    TicketView,
    sentiment,
)
from tierline_sla.escalations.service import escalate, escalate_on_signals, predict
from tierline_sla.incidents import service as incidents
from tierline_sla.models import tickets
from tierline_sla.recorder import record

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
    policy = sla_context(runtime).sla_policy
    profile = policy.profile_for(event.ticket_type, event.channel, event.plan)
    resolution_start = event.created_at
    detail: dict[str, Any] = {"priority": event.priority, "profile": profile,
                              "calendar": policy.calendar_for(event.priority, profile).name}
    if (policy.start_for(profile) == "reported" and event.reported_start is not None
            and event.reported_start < event.created_at):
        resolution_start = event.reported_start
        detail["resolution_started_at"] = resolution_start.isoformat()
    await start_clock(runtime, uow, run, event.ticket_id, "first_response", event.created_at,
                       event.priority, profile)
    await start_clock(runtime, uow, run, event.ticket_id, "resolution", resolution_start,
                       event.priority, profile)
    detail["clocks_started"] = ["first_response", "resolution"]
    await record(uow, d, detail)
    await _repeat_contacts(runtime, uow, event)
    await incidents.on_ticket_logged(runtime, session, event)


async def _repeat_contacts(runtime: Runtime, uow: UnitOfWork, event: TicketCreated) -> None:
    """Escalate a new ticket whose requester keeps coming back about the same category.
    The ticket was inserted just now, so its other signals are at their start (no message,
    reassignment or reopen yet, tier 0, no escalation fired): only the count is read."""
    policy = sla_context(runtime).escalation_policy
    rule = policy.predictive.repeat_contacts
    if rule is None:
        return
    since = event.created_at - timedelta(days=rule.window_days)
    contacts = await uow.session.scalar(
        select(func.count()).select_from(tickets).where(
            tickets.c.requester_id == event.requester_id, tickets.c.category == event.category,
            tickets.c.created_at >= since, tickets.c.created_at <= event.created_at))
    signals = Signals(repeat_contacts=int(contacts or 1))  # every other signal at its start
    view = TicketView(priority=event.priority, category=event.category, tier=0)
    await escalate_on_signals(runtime, uow.session, event.ticket_id, signals, view, [],
                              event.created_at)


async def on_ticket_assigned(runtime: Runtime, uow: UnitOfWork, run: ClockRun,
                             d: Delivered[TicketAssigned]) -> None:
    event = d.event
    await uow.session.execute(update(tickets).where(tickets.c.ticket_id == event.ticket_id)
                              .values(tier=event.agent_tier, agent_id=event.agent_id))
    await record(uow, d, {"agent_id": event.agent_id, "agent_tier": event.agent_tier,
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
    pauses = set(sla_context(runtime).sla_policy.pauses_for(profile))
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
            await start_clock(runtime, uow, run, tid, "update", at, event.priority, profile)
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
    await record(uow, d, {k: v for k, v in detail.items() if v is not None})
    if event.to_status == "reopened":
        await predict(runtime, session, tid, at)


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
        threshold = sla_context(runtime).escalation_policy.predictive.sentiment
        if threshold is not None and score <= threshold.threshold:
            values["negative_messages"] = tickets.c.negative_messages + 1
        values["worst_sentiment"] = func.least(tickets.c.worst_sentiment, score)
    elif event.public:
        state = run.apply(tid, "update", "restart", event.commented_at)
        if state is not None:
            detail["update"] = "restarted"
    await session.execute(update(tickets).where(tickets.c.ticket_id == tid).values(**values))
    await record(uow, d, detail)
    await predict(runtime, session, tid, event.commented_at)


async def on_reassignment_requested(runtime: Runtime, uow: UnitOfWork, run: ClockRun,
                                    d: Delivered[ReassignmentRequested]) -> None:
    event = d.event
    await uow.session.execute(update(tickets).where(tickets.c.ticket_id == event.ticket_id)
                              .values(reassignments=tickets.c.reassignments + 1))
    await record(uow, d, {"reassignment_requested_by": event.requested_by,
                        "reason": event.reason})
    if event.to_tier is not None or event.to_skill is not None:
        # an agent passing the work to a higher tier or another skill is a functional
        # escalation, counted like any other (router acts on the request itself)
        await escalate(runtime, uow.session, event.ticket_id, Escalation(
            "functional", "agent-request", f"{event.requested_by}: {event.reason}",
            to_tier=event.to_tier, to_skill=event.to_skill), "agent", event.requested_at)
    await predict(runtime, uow.session, event.ticket_id, event.requested_at)


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
    await record(uow, d, detail)
