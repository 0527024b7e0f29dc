"""SLA on a real PostgreSQL, in virtual time: timers fire once across restarts and
replicas, pauses survive priority changes, escalations follow the matrix and the signals,
and a burst of incidents on one service raises one major incident."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.helpers import deliver, offline_runtime, outbox_events
from tierline_shared.bus.events import (
    TicketAssigned,
    TicketCommented,
    TicketCreated,
    TicketPriorityChanged,
    TicketStatusChanged,
)
from tierline_shared.clock import FrozenClock
from tierline_sla.app import SPEC, _start
from tierline_sla.clocks.domain import fold
from tierline_sla.clocks.service import load_events
from tierline_sla.clocks.timers import fire_due

pytestmark = [pytest.mark.db]

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday


@pytest.fixture(scope="module")
def sla_db(databases: Any) -> str:
    """A database of the module's own: fire_due fires every due timer in it."""
    return str(databases.create())


@pytest.fixture
async def sla(sla_db: str) -> AsyncIterator[Any]:
    runtime = offline_runtime(SPEC, sla_db, FrozenClock(T0))
    await _start(runtime)
    yield runtime
    await runtime.engine.dispose()


def created(priority: str = "P2", at: datetime = T0, **extra: Any) -> TicketCreated:
    fields: dict[str, Any] = dict(
        ticket_id=uuid.uuid4(), ticket_type="incident", title="VPN drops", category="network",
        priority=priority, impact="medium", urgency="medium", channel="portal",
        requester_id=f"u-{uuid.uuid4().hex[:6]}", created_at=at)
    fields.update(extra)
    return TicketCreated(**fields)


def status(ticket: TicketCreated, frm: str, to: str, at: datetime,
           actor: str = "agent-1") -> TicketStatusChanged:
    return TicketStatusChanged(
        ticket_id=ticket.ticket_id, ticket_type=ticket.ticket_type, from_status=frm,
        to_status=to, actor=actor, priority=ticket.priority, category=ticket.category,
        channel=ticket.channel, changed_at=at)


async def at_time(runtime: Any, when: datetime) -> int:
    runtime.clock._now = when
    return await fire_due(runtime)


async def kinds(runtime: Any, ticket: TicketCreated) -> list[str]:
    return [kind.removeprefix("tierline.") for kind, _ in
            await outbox_events(runtime, str(ticket.ticket_id))]


async def fired(runtime: Any, ticket: TicketCreated) -> list[tuple[str, str, Any]]:
    """(type, clock, threshold) of the warnings and breaches for the ticket."""
    out = []
    for kind, body in await outbox_events(runtime, str(ticket.ticket_id)):
        if kind == "tierline.sla.warning.v1":
            out.append(("warning", body["clock"], body["threshold_percent"]))
        elif kind == "tierline.sla.breached.v1":
            out.append(("breach", body["clock"], 100))
    return out


async def test_warnings_then_breach_each_fire_once_on_time(sla: Any) -> None:
    ticket = created("P2")  # first response 30 min, resolution 8 h, 24x7
    await deliver(sla, ticket)
    await at_time(sla, T0 + timedelta(minutes=14))
    assert await fired(sla, ticket) == []
    await at_time(sla, T0 + timedelta(minutes=15))
    assert await fired(sla, ticket) == [("warning", "first_response", 50)]
    for _ in range(3):  # nothing fires twice, however often the job runs
        await at_time(sla, T0 + timedelta(minutes=31))
    assert await fired(sla, ticket) == [("warning", "first_response", 50),
                                        ("warning", "first_response", 75),
                                        ("breach", "first_response", 100)]


async def test_a_met_clock_stops_its_timers_and_first_response_does_not_stop_resolution(
        sla: Any) -> None:
    ticket = created("P2")
    await deliver(sla, ticket)
    sla.clock._now = T0 + timedelta(minutes=10)
    await deliver(sla, status(ticket, "new", "acknowledged", T0 + timedelta(minutes=10)))
    await at_time(sla, T0 + timedelta(hours=5))
    assert [f for f in await fired(sla, ticket) if f[1] != "update"] == [
        ("warning", "resolution", 50)]  # first response met: none of its timers fire
    # an update (a status change by the agent) does not reset the first response
    await deliver(sla, status(ticket, "acknowledged", "in_progress", T0 + timedelta(hours=5)))
    async with sla.sessions() as session:
        first = fold(sla.context.sla_policy, "first_response",
                     await load_events(session, ticket.ticket_id, "first_response"))
    assert first.status == "met" and first.stopped_at == T0 + timedelta(minutes=10)


async def test_restart_between_warning_and_breach_fires_the_breach_once(sla_db: str) -> None:
    ticket = created("P1")  # first response 15 min
    first = offline_runtime(SPEC, sla_db, FrozenClock(T0))
    await _start(first)
    await deliver(first, ticket)
    await at_time(first, T0 + timedelta(minutes=8))
    await first.engine.dispose()  # the process goes away between warning and breach
    again = offline_runtime(SPEC, sla_db, FrozenClock(T0 + timedelta(minutes=20)))
    await _start(again)
    await fire_due(again)
    await fire_due(again)
    events = [f for f in await fired(again, ticket) if f[1] == "first_response"]
    assert events == [("warning", "first_response", 50), ("warning", "first_response", 75),
                      ("breach", "first_response", 100)]
    await again.engine.dispose()


async def test_two_replicas_fire_each_timer_once(sla_db: str) -> None:
    replicas = []
    for _ in range(2):
        runtime = offline_runtime(SPEC, sla_db, FrozenClock(T0))
        await _start(runtime)
        replicas.append(runtime)
    tickets = [created("P2") for _ in range(30)]
    for i, ticket in enumerate(tickets):
        await deliver(replicas[i % 2], ticket)
    late = T0 + timedelta(hours=9)  # past every first-response and resolution threshold
    for runtime in replicas:
        runtime.clock._now = late
    rounds = []
    while not rounds or sum(rounds[-1]):  # both replicas at once, small batches, until done
        rounds.append(await asyncio.gather(*(fire_due(r, limit=7) for r in replicas
                                             for _ in range(3))))
    assert len(rounds) > 2 and all(n for n in rounds[0])  # the replicas really did share
    total: Counter[tuple[str, str, Any]] = Counter()
    for ticket in tickets:
        for event in await fired(replicas[0], ticket):
            total[event] += 1
        assert sorted(await fired(replicas[0], ticket)) == sorted(set(
            await fired(replicas[0], ticket))), "a timer fired twice"
    assert total[("breach", "resolution", 100)] == 30
    assert total[("breach", "first_response", 100)] == 30
    for runtime in replicas:
        await runtime.engine.dispose()


async def test_pause_then_priority_change_keeps_the_paused_time_out(sla: Any) -> None:
    ticket = created("P2")
    await deliver(sla, ticket)
    await deliver(sla, status(ticket, "new", "in_progress", T0 + timedelta(minutes=5)))
    await deliver(sla, status(ticket, "in_progress", "pending_customer", T0 + timedelta(hours=1)))
    await deliver(sla, TicketPriorityChanged(
        ticket_id=ticket.ticket_id, from_priority="P2", to_priority="P1", by="lead",
        changed_at=T0 + timedelta(hours=3)))
    # the customer answers: their reply hands the work back and resumes the clock
    await deliver(sla, status(ticket, "pending_customer", "in_progress",
                              T0 + timedelta(hours=4), actor=ticket.requester_id))
    async with sla.sessions() as session:
        state = fold(sla.context.sla_policy, "resolution",
                     await load_events(session, ticket.ticket_id, "resolution"),
                     now=T0 + timedelta(hours=4, minutes=30))
    assert state.status == "running" and state.priority == "P1"
    assert state.elapsed_seconds == 90 * 60  # 1 h before the pause, 30 min after
    assert state.due_at == T0 + timedelta(hours=4) + timedelta(minutes=240 - 60)
    # the P1 target re-armed the timers: 75% of 240 min is 180 min of running time
    await at_time(sla, T0 + timedelta(hours=6))
    assert ("warning", "resolution", 75) in await fired(sla, ticket)


async def test_the_update_clock_restarts_on_each_public_update(sla: Any) -> None:
    ticket = created("P1")  # updates every 60 min
    await deliver(sla, ticket)
    await deliver(sla, status(ticket, "new", "in_progress", T0 + timedelta(minutes=5)))
    await deliver(sla, TicketCommented(ticket_id=ticket.ticket_id, author="agent-1",
                                       public=True, text="Looking at the gateway logs",
                                       commented_at=T0 + timedelta(minutes=50)))
    await at_time(sla, T0 + timedelta(minutes=70))
    assert ("breach", "update", 100) not in await fired(sla, ticket)
    await at_time(sla, T0 + timedelta(minutes=111))
    assert ("breach", "update", 100) in await fired(sla, ticket)


async def test_breach_escalates_by_the_matrix_up_to_the_maximum_level(sla: Any) -> None:
    ticket = created("P2")
    await deliver(sla, ticket)
    await deliver(sla, TicketAssigned(
        ticket_id=ticket.ticket_id, agent_id="a-t1", agent_tier=1, priority="P2",
        category="network", channel="portal", assigned_at=T0 + timedelta(minutes=1)))
    await deliver(sla, status(ticket, "new", "in_progress", T0 + timedelta(minutes=5)))
    await at_time(sla, T0 + timedelta(hours=6, minutes=1))  # 75% of 8 h

    async def escalated() -> list[dict[str, Any]]:
        return [b for k, b in await outbox_events(sla, str(ticket.ticket_id))
                if k == "tierline.ticket.escalated.v1"]

    # the update clock (2 h for P2) ran out first: its rule notifies the team manager
    assert [(b["kind"], b["level"], b["rule"], b.get("to_tier")) for b in await escalated()] == [
        ("hierarchical", 1, "update-overdue", None),
        ("functional", 1, "resolution-tier1-to-tier2", 2)]
    await at_time(sla, T0 + timedelta(hours=8, minutes=1))  # the resolution breach
    breach = (await escalated())[-1]
    assert (breach["rule"], breach["level"]) == ("resolution-breach", 2)
    assert breach["raise_priority_to"] == "P1" and breach["notify"] == ["team_manager"]
    assert "resolution clock is breached" in breach["reason"]
    await at_time(sla, T0 + timedelta(hours=12, minutes=1))  # 150%: the duty manager
    assert [(b["rule"], b["level"]) for b in await escalated()][-1] == (
        "resolution-long-breach", 3)
    async with sla.sessions() as session:  # a fourth hierarchical level is not published
        from tierline_sla.escalations.domain import Escalation
        from tierline_sla.escalations.service import escalate
        async with session.begin():
            sent = await escalate(sla, session, ticket.ticket_id,
                                  Escalation("hierarchical", "manual", "again",
                                             notify=("duty_manager",)), "time", sla.clock.now())
    assert sent is False and len([b for b in await escalated()
                                  if b["kind"] == "hierarchical"]) == 3


async def test_negative_sentiment_escalates_before_any_breach(sla: Any) -> None:
    ticket = created("P3")
    await deliver(sla, ticket)
    for minute, text in ((10, "This is useless, the VPN is still broken and I am furious"),
                         (20, "Terrible service, nobody helps, absolutely awful")):
        await deliver(sla, TicketCommented(ticket_id=ticket.ticket_id, author=ticket.requester_id,
                                           public=True, from_requester=True, text=text,
                                           commented_at=T0 + timedelta(minutes=minute)))
    bodies = [b for k, b in await outbox_events(sla, str(ticket.ticket_id))
              if k == "tierline.ticket.escalated.v1"]
    assert [(b["trigger"], b["kind"]) for b in bodies] == [("sentiment", "hierarchical")]
    assert "2 negative customer messages" in bodies[0]["reason"]
    await deliver(sla, TicketCommented(ticket_id=ticket.ticket_id, author=ticket.requester_id,
                                       public=True, from_requester=True,
                                       text="Still awful and useless, I hate this",
                                       commented_at=T0 + timedelta(minutes=30)))
    again = [b for k, b in await outbox_events(sla, str(ticket.ticket_id))
             if k == "tierline.ticket.escalated.v1"]
    assert len(again) == 1  # each signal escalates once


async def test_a_burst_of_20_on_one_service_raises_one_major_incident(sla_db: str) -> None:
    replicas = []
    for _ in range(2):
        runtime = offline_runtime(SPEC, sla_db, FrozenClock(T0 + timedelta(days=1)))
        await _start(runtime)
        replicas.append(runtime)
    service = f"Payroll {uuid.uuid4().hex[:6]}"
    burst = [created("P3", at=T0 + timedelta(days=1, seconds=20 * i), service=service)
             for i in range(20)]

    async def feed(runtime: Any, part: list[TicketCreated]) -> None:
        for ticket in part:
            await deliver(runtime, ticket)

    await asyncio.gather(feed(replicas[0], burst[0::2]), feed(replicas[1], burst[1::2]))
    declared = [b for k, b in await outbox_events(replicas[0])
                if k == "tierline.major_incident.declared.v1" and b["service"] == service]
    assert len(declared) == 1
    mi_id = declared[0]["major_incident_id"]
    linked = {b["ticket_id"] for k, b in await outbox_events(replicas[0], mi_id)
              if k == "tierline.major_incident.ticket_linked.v1"}
    assert {str(t) for t in declared[0]["ticket_ids"]} | linked == {
        str(t.ticket_id) for t in burst}
    # stakeholder-update reminders on the cadence until service is restored
    for runtime in replicas:
        runtime.clock._now = T0 + timedelta(days=1, minutes=40)
    await asyncio.gather(*(fire_due(r) for r in replicas))
    due = [b for k, b in await outbox_events(replicas[0], mi_id)
           if k == "tierline.major_incident.update_due.v1"]
    assert [b["sequence"] for b in due] == [1]
    for runtime in replicas:
        await runtime.engine.dispose()


async def test_a_run_of_events_holds_its_tickets_timers_before_any_ticket_row(
        sla: Any) -> None:
    """The timer job locks due timers (skipping locked ones) and then their tickets; a run
    of ticket events that locked tickets first and the timers it replaces only at its end
    deadlocked with it. The run takes its tickets' unfired timers when it loads their
    clocks, so the job skips them instead."""
    from sqlalchemy import select

    from tierline_sla.clocks.service import clock_run
    from tierline_sla.models import timers

    ticket = created("P2")
    await deliver(sla, ticket)  # its clocks run, their timers armed

    async def free_timers() -> list[Any]:  # what the timer job could lock now
        async with sla.sessions() as other, other.begin():
            return list((await other.execute(
                select(timers.c.id).where(timers.c.ticket_id == ticket.ticket_id,
                                          timers.c.fired_at.is_(None))
                .with_for_update(skip_locked=True))).all())

    armed = await free_timers()
    assert armed
    async with sla.transaction() as uow:
        await clock_run(sla, uow.session).load([ticket.ticket_id])
        assert await free_timers() == []
    assert await free_timers() == armed


async def test_recurring_incidents_become_one_problem_that_later_ones_join(
        databases: Any) -> None:
    """Three incidents on one configuration item (spelt two ways) are a problem linking
    them; a fourth joins it without a second problem; six in one category with nothing else
    in common are a problem of the category. sla reads only the group it settles on."""
    from sqlalchemy import select

    from tierline_sla.models import problems, tickets

    runtime = offline_runtime(SPEC, str(databases.create()), FrozenClock(T0))
    await _start(runtime)
    titles = ["VPN drops at noon", "Cannot reach the intranet", "Remote desktop times out",
              "Shared drive unreachable", "Printer jams", "Badge reader dead",
              "Monitor flickers", "Keyboard missing keys", "Dock not charging",
              "Projector shows no signal"]
    on_gateway = [created("P3", at=T0 + timedelta(hours=i), title=titles[i],
                          configuration_item="VPN-GW-01" if i % 2 else " vpn-gw-01",
                          category=["network", "access", "software", "email"][i])
                  for i in range(4)]
    hardware = [created("P4", at=T0 + timedelta(hours=5 + i), title=titles[4 + i],
                        category="hardware") for i in range(6)]

    async def stored() -> list[Any]:
        async with runtime.sessions() as session:
            return list((await session.execute(select(problems).order_by(
                problems.c.identified_at))).all())

    async def linked(ticket: TicketCreated) -> Any:
        async with runtime.sessions() as session:
            return await session.scalar(select(tickets.c.problem_id).where(
                tickets.c.ticket_id == ticket.ticket_id))

    try:
        for ticket in on_gateway[:2]:
            await deliver(runtime, ticket)
        assert await stored() == []
        await deliver(runtime, on_gateway[2])
        [problem] = await stored()
        assert (problem.basis, problem.key) == ("configuration_item",
                                                "configuration_item:vpn-gw-01")
        assert problem.ticket_ids == [str(t.ticket_id) for t in on_gateway[:3]]
        await deliver(runtime, on_gateway[3])
        [problem] = await stored()
        assert problem.ticket_ids == [str(t.ticket_id) for t in on_gateway]
        assert [await linked(t) for t in on_gateway] == [problem.id] * 4
        for ticket in hardware[:5]:
            await deliver(runtime, ticket)
        assert len(await stored()) == 1  # five of a category are not yet a problem
        await deliver(runtime, hardware[5])
        gateway, category = await stored()
        assert (category.basis, category.key) == ("category", "category:hardware")
        assert category.ticket_ids == [str(t.ticket_id) for t in hardware]
        assert [await linked(t) for t in hardware] == [category.id] * 6
        identified = [b for k, b in await outbox_events(runtime)
                      if k == "tierline.problem.identified.v1"]
        assert [b["problem_id"] for b in identified] == [str(gateway.id), str(category.id)]
    finally:
        await runtime.engine.dispose()


@pytest.mark.parametrize("order", [(0, 1, 2, 5, 4, 3), (0, 1, 2, 5, 3, 4), (5, 4, 3, 2, 1, 0)])
async def test_a_burst_consumed_out_of_creation_order_is_one_major_incident_of_all(
        sla: Any, order: tuple[int, ...]) -> None:
    """One consumed batch holds each partition's events in turn, so six tickets created in
    a burst reach sla out of order. The first two orders used to declare nothing and a major
    incident without ticket 5 (the e2e burst test's flake)."""
    from tierline_shared.bus.envelope import Envelope
    from tierline_shared.bus.handlers import Delivered

    service = f"Payroll {uuid.uuid4().hex[:6]}"
    at = T0 + timedelta(days=2)
    burst = [created("P3", at=at + timedelta(milliseconds=40 * n), service=service)
             for n in range(6)]
    async with sla.transaction() as uow:  # as the consumer applies a batch
        await sla.spec.handlers(sla).apply(uow, [
            Delivered(Envelope.wrap(burst[n], source="/test", time=sla.clock.now()))
            for n in order])
    declared = [b for k, b in await outbox_events(sla)
                if k == "tierline.major_incident.declared.v1" and b["service"] == service]
    assert len(declared) == 1
    mi_id = declared[0]["major_incident_id"]
    linked = {b["ticket_id"] for k, b in await outbox_events(sla, mi_id)
              if k == "tierline.major_incident.ticket_linked.v1"}
    assert {str(t) for t in declared[0]["ticket_ids"]} | linked == {
        str(t.ticket_id) for t in burst}


async def test_an_agents_request_to_go_up_a_tier_is_a_functional_escalation(sla: Any) -> None:
    from tierline_shared.bus.events import ReassignmentRequested

    ticket = created("P3")
    await deliver(sla, ticket)
    await deliver(sla, ReassignmentRequested(
        ticket_id=ticket.ticket_id, requested_by="ana", reason="needs network engineering",
        to_tier=2, requested_at=T0 + timedelta(minutes=5)))
    await deliver(sla, ReassignmentRequested(  # a plain hand-over is no escalation
        ticket_id=ticket.ticket_id, requested_by="ben", reason="going home",
        requested_at=T0 + timedelta(minutes=6)))
    escalated = [body for kind, body in await outbox_events(sla, str(ticket.ticket_id))
                 if kind == "tierline.ticket.escalated.v1" and body["trigger"] == "agent"]
    assert [(e["kind"], e["to_tier"], e["level"]) for e in escalated] == [("functional", 2, 1)]
    assert escalated[0]["reason"] == "ana: needs network engineering"


async def test_recurring_incidents_logged_out_of_order_are_a_problem_when_the_last_comes(
        databases: Any) -> None:
    """Incidents are not always logged in the order they were created: three on one
    configuration item, the earliest logged last, are a problem linking all three as soon as
    it comes (sla reads the window either side of it)."""
    from sqlalchemy import select

    from tierline_sla.models import problems, tickets

    runtime = offline_runtime(SPEC, str(databases.create()), FrozenClock(T0))
    await _start(runtime)
    titles = ["VPN drops at noon", "Cannot reach the intranet", "Remote desktop times out"]
    gateway = [created("P3", at=T0 + timedelta(days=3 * i), title=titles[i],
                       configuration_item="VPN-GW-01", category=["network", "access",
                                                                  "software"][i])
               for i in range(3)]
    try:
        for ticket in reversed(gateway):
            await deliver(runtime, ticket)
        async with runtime.sessions() as session:
            [problem] = (await session.execute(select(problems))).all()
            linked = set((await session.scalars(select(tickets.c.problem_id).where(
                tickets.c.ticket_id.in_([t.ticket_id for t in gateway])))).all())
        assert (problem.basis, problem.key) == ("configuration_item",
                                                "configuration_item:vpn-gw-01")
        assert problem.ticket_ids == [str(t.ticket_id) for t in gateway]
        assert linked == {problem.id}
    finally:
        await runtime.engine.dispose()
