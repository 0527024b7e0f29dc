"""Router on a real PostgreSQL, in virtual time: the complaints users of other systems have
about routing, each as a test. Handlers and jobs are called as the consumer and the job loop
would call them; what router publishes is read from its outbox."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.helpers import deliver, deliver_envelope, offline_runtime, outbox_events
from tierline_router.agents.schemas import AgentIn
from tierline_router.agents.service import upsert_agent
from tierline_router.app import SPEC, _start
from tierline_router.context import router_context
from tierline_router.models import agents, assignments, queue
from tierline_router.routing.jobs import expire_offers, review_queue
from tierline_router.routing.rules import RoutingPolicy
from tierline_router.work.service import answer_offer, set_presence
from tierline_shared.bus.events import (
    TicketAssigned,
    TicketCreated,
    TicketEscalated,
    TicketOfferAnswered,
    TicketStatusChanged,
)
from tierline_shared.clock import FrozenClock

pytestmark = [pytest.mark.db]

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
async def router(databases: Any) -> AsyncIterator[Any]:
    """A router of its own database: its jobs see only this test's work."""
    runtime = offline_runtime(SPEC, databases.create(), FrozenClock(T0))
    await _start(runtime)
    yield runtime
    await runtime.engine.dispose()


async def put_agent(rt: Any, agent_id: str, tier: int = 1, skills: dict | None = None,
                    channels: dict | None = None, **kw: Any) -> None:
    body = AgentIn(name=agent_id, tier=tier, skills=skills or {"network": 3},
                   channels=channels or {"portal": 3}, **kw)
    async with rt.sessions.begin() as session:
        await upsert_agent(rt, session, agent_id, body)


async def presence(rt: Any, agent_id: str, value: str) -> None:
    async with rt.sessions.begin() as session:
        await set_presence(rt, session, agent_id, value, rt.clock.now())


async def answer(rt: Any, ticket_id: uuid.UUID, agent_id: str, accepted: bool) -> None:
    async with rt.sessions.begin() as session:
        await answer_offer(rt, session, ticket_id, agent_id, accepted, None)


async def create(rt: Any, priority: str = "P3", channel: str = "portal",
                 category: str = "network", **kw: Any) -> uuid.UUID:
    event = TicketCreated(ticket_id=uuid.uuid4(), ticket_type="incident", title="t",
                          category=category, priority=priority, impact="medium",
                          urgency="medium", channel=channel, requester_id="u-1",
                          created_at=rt.clock.now(), **kw)
    await deliver(rt, event)
    return event.ticket_id


async def status(rt: Any, ticket_id: uuid.UUID, frm: str, to: str) -> None:
    await deliver(rt, TicketStatusChanged(
        ticket_id=ticket_id, ticket_type="incident", from_status=frm, to_status=to,
        priority="P3", category="network", channel="portal", changed_at=rt.clock.now()))


async def holder(rt: Any, ticket_id: uuid.UUID) -> tuple[str, str] | None:
    async with rt.sessions() as session:
        row = (await session.execute(select(assignments.c.agent_id, assignments.c.status)
                                     .where(assignments.c.ticket_id == ticket_id))).first()
    return None if row is None or row.status == "released" else (row.agent_id, row.status)


async def loads(rt: Any) -> dict[str, tuple[dict, int]]:
    async with rt.sessions() as session:
        rows = (await session.execute(select(agents.c.id, agents.c.active_by_channel,
                                             agents.c.active_total))).all()
    return {r.id: (r.active_by_channel, r.active_total) for r in rows}


async def queued(rt: Any) -> list[uuid.UUID]:
    async with rt.sessions() as session:
        return list((await session.scalars(select(queue.c.ticket_id).order_by(
            queue.c.eff_rank, queue.c.sla_due_at, queue.c.queued_at))).all())


def tick(rt: Any, seconds: float = 1) -> None:
    rt.clock.advance(timedelta(seconds=seconds))


async def test_fair_share_under_a_per_agent_cap(router: Any) -> None:
    for n in range(5):
        await put_agent(router, f"a{n}", channels={"portal": 3})
    tickets = []
    for _ in range(17):
        tickets.append(await create(router))
        tick(router)
    holders = [await holder(router, t) for t in tickets]
    per_agent = Counter(h[0] for h in holders if h)
    assert sorted(per_agent.values()) == [3, 3, 3, 3, 3]  # 15 placed, nobody over the cap
    assert len(await queued(router)) == 2
    # spread within one ticket of even at every step: the first ten went two each
    offers = [b["agent_id"] for k, b in await outbox_events(router)
              if k == TicketAssigned.event_type][:10]
    assert sorted(Counter(offers).values()) == [2, 2, 2, 2, 2]
    assert {k: v[1] for k, v in (await loads(router)).items()} == {f"a{n}": 3 for n in range(5)}


async def test_capacity_per_channel_and_in_total(router: Any) -> None:
    await put_agent(router, "ana", channels={"chat": 2, "email": 2}, max_total=3)
    chats = [await create(router, channel="chat") for _ in range(3)]
    emails = [await create(router, channel="email") for _ in range(2)]
    assert [await holder(router, t) is not None for t in chats] == [True, True, False]
    assert [await holder(router, t) is not None for t in emails] == [True, False]
    assert (await loads(router))["ana"] == ({"chat": 2, "email": 1}, 3)
    assert set(await queued(router)) == {chats[2], emails[1]}


async def test_offline_agent_loses_unaccepted_work_and_keeps_accepted(router: Any) -> None:
    await put_agent(router, "ana")
    await put_agent(router, "ben", presence="offline")
    kept, moved = await create(router), await create(router)
    assert await holder(router, kept) == ("ana", "offered")
    assert await holder(router, moved) == ("ana", "offered")
    await answer(router, kept, "ana", accepted=True)
    await presence(router, "ben", "available")
    await presence(router, "ana", "offline")
    assert await holder(router, kept) == ("ana", "accepted")
    assert await holder(router, moved) == ("ben", "offered")
    answered = [b for k, b in await outbox_events(router, str(moved))
                if k == TicketOfferAnswered.event_type]
    # the answer names the offer it answers (intake matches it to the offer it knows)
    assert [(b["agent_id"], b["outcome"], b["attempt"]) for b in answered] == [
        ("ana", "agent_unavailable", 1)]
    second = [b for k, b in await outbox_events(router, str(moved))
              if k == TicketAssigned.event_type][-1]
    assert (second["attempt"], second["previous_agent_id"]) == (2, "ana")
    assert (await loads(router))["ana"] == ({"portal": 1}, 1)


async def test_reopened_ticket_returns_to_its_agent_or_goes_elsewhere(router: Any) -> None:
    await put_agent(router, "ana")
    await put_agent(router, "ben", tier=2)
    first, second = await create(router), await create(router)
    for t in (first, second):
        await answer(router, t, "ana", accepted=True)
        await status(router, t, "in_progress", "resolved")
    await status(router, first, "resolved", "reopened")
    assert await holder(router, first) == ("ana", "accepted")  # back to who knows it
    await presence(router, "ana", "offline")
    await status(router, second, "resolved", "reopened")
    assert await holder(router, second) == ("ben", "offered")
    assigned = [b for k, b in await outbox_events(router, str(second))
                if k == TicketAssigned.event_type][-1]
    assert assigned["reasons"]["trigger"] == "reopened; previous agent ana is offline"


async def test_backlog_drains_oldest_first_when_capacity_frees(router: Any) -> None:
    await put_agent(router, "ana", channels={"portal": 1})
    tickets = []
    for _ in range(5):
        tickets.append(await create(router))
        tick(router, 10)
    assert await queued(router) == tickets[1:]
    order = [tickets[0]]
    for _ in range(4):
        await status(router, order[-1], "in_progress", "resolved")
        held = [t for t in tickets if (await holder(router, t) or ("",))[0] == "ana"]
        assert len(held) == 1
        order.append(held[0])
    assert order == tickets


async def test_a_p1_behind_1000_queued_p4s_is_offered_first(router: Any) -> None:
    await put_agent(router, "ana", channels={"portal": 1})
    busy = await create(router)
    for _ in range(1000):
        await create(router, priority="P4")
    tick(router, 5)
    p1 = await create(router, priority="P1")
    assert len(await queued(router)) == 1001 and (await queued(router))[0] == p1
    await status(router, busy, "in_progress", "resolved")
    assert await holder(router, p1) == ("ana", "offered")


async def test_tier3_only_when_no_tier1_is_free_and_the_rule_allows(router: Any) -> None:
    await put_agent(router, "t1", channels={"portal": 1})
    await put_agent(router, "t3", tier=3, skills={"network": 5})
    first, second = await create(router), await create(router)
    assert await holder(router, first) == ("t1", "offered")  # not the better-skilled t3
    assert await holder(router, second) == ("t3", "offered")  # shipped rules allow tiers 1-3
    router_context(router).routing_policy = RoutingPolicy.model_validate({
        "version": 1, "aging_s": 0,
        "rules": [{"name": "tier1-network", "when": {"categories": ["network"]},
                   "need": {"skills": {"network": 4}, "max_tier": 1}}],
        "expansion": [{"after_s": 120, "min_level": 3}, {"after_s": 300, "extra_tiers": 2}]})
    await put_agent(router, "t1b", skills={"network": 3})
    third = await create(router)
    assert await holder(router, third) is None  # t1b's level 3 is short, t3 above max tier
    tick(router, 119)
    await review_queue(router)
    assert await holder(router, third) is None
    tick(router, 1)
    await review_queue(router)  # after 2 minutes level 3 is enough
    assert await holder(router, third) == ("t1b", "offered")
    await put_agent(router, "t1b", skills={"network": 3}, channels={"portal": 1})
    fourth = await create(router)
    tick(router, 299)
    await review_queue(router)
    assert await holder(router, fourth) is None
    tick(router, 1)
    await review_queue(router)  # after 5 minutes tier 3 may take it
    assert await holder(router, fourth) == ("t3", "offered")
    reasons = [b for k, b in await outbox_events(router, str(fourth))
               if k == TicketAssigned.event_type][-1]["reasons"]
    assert "after 300s waiting: up to tier 3" in reasons["widened"]


async def test_unanswered_offer_goes_to_the_next_agent(router: Any) -> None:
    await put_agent(router, "ana")
    await put_agent(router, "ben")
    ticket = await create(router)
    assert await holder(router, ticket) == ("ana", "offered")
    tick(router, 119)
    await expire_offers(router)
    assert await holder(router, ticket) == ("ana", "offered")
    tick(router, 1)
    await expire_offers(router)
    assert await holder(router, ticket) == ("ben", "offered")
    async with router.sessions() as session:
        assert await session.scalar(select(agents.c.presence).where(agents.c.id == "ana")) \
            == "away"
    assert (await loads(router))["ana"] == ({"portal": 0}, 0)
    outcomes = [b["outcome"] for k, b in await outbox_events(router, str(ticket))
                if k == TicketOfferAnswered.event_type]
    assert outcomes == ["timed_out"]


async def test_an_agent_who_misses_an_offer_loses_their_other_offers_to_the_offer_job(
        router: Any) -> None:
    """Set away for a missed offer, an agent's other open offers go elsewhere too, through
    the offer job a few per transaction (re-routed inside the chunk that expired the first,
    up to the agent's whole capacity, they held the agents those decisions locked)."""
    await put_agent(router, "ana", channels={"portal": 2})
    first = await create(router)
    tick(router, 60)
    second = await create(router)
    assert await holder(router, first) == await holder(router, second) == ("ana", "offered")
    await put_agent(router, "ben", channels={"portal": 2})
    tick(router, 60)  # the first offer times out; the second has a minute left
    await expire_offers(router)
    assert await holder(router, first) == ("ben", "offered")
    assert await holder(router, second) == ("ana", "offered")  # left to the job's next run
    await expire_offers(router)
    assert await holder(router, second) == ("ben", "offered")
    assert (await loads(router))["ana"] == ({"portal": 0}, 0)


async def test_a_declined_offer_never_comes_back_to_the_same_agent(router: Any) -> None:
    await put_agent(router, "ana")
    await put_agent(router, "ben")
    ticket = await create(router)
    await answer(router, ticket, "ana", accepted=False)
    assert await holder(router, ticket) == ("ben", "offered")
    await answer(router, ticket, "ben", accepted=False)
    assert await holder(router, ticket) is None and await queued(router) == [ticket]
    routing = [(k.split(".")[2], b.get("attempt")) for k, b in await outbox_events(
        router, str(ticket)) if k != TicketAssigned.event_type]
    assert routing == [("offer_answered", 1), ("offer_answered", 2), ("queued", 2)]
    await put_agent(router, "cat")
    assert await holder(router, ticket) == ("cat", "offered")


async def test_functional_escalation_moves_the_ticket_and_keeps_history(router: Any) -> None:
    await put_agent(router, "t1")
    await put_agent(router, "t2", tier=2)
    ticket = await create(router)
    await answer(router, ticket, "t1", accepted=True)
    await deliver(router, TicketEscalated(
        ticket_id=ticket, kind="functional", level=1, trigger="time",
        rule="resolution-tier1-to-tier2", reason="75% of the resolution target", to_tier=2,
        escalated_at=router.clock.now()))
    assert await holder(router, ticket) == ("t2", "offered")
    async with router.sessions() as session:
        from tierline_router.models import history
        actions = [(r.action, r.agent_id) for r in (await session.execute(
            select(history).where(history.c.ticket_id == ticket).order_by(history.c.id)))]
    assert actions == [("offered", "t1"), ("accepted", "t1"), ("escalated", None),
                       ("withdrawn", "t1"), ("offered", "t2")]
    assert (await loads(router))["t1"] == ({"portal": 0}, 0)


async def test_deflected_work_never_reaches_an_agent(router: Any) -> None:
    await put_agent(router, "ana")
    ticket = await create(router, deflected=True)
    assert await holder(router, ticket) is None and await queued(router) == []
    assert not [k for k, _ in await outbox_events(router, str(ticket))]


async def test_equal_priorities_wait_in_sla_due_order_and_low_ones_age(router: Any) -> None:
    from tierline_shared.bus.events import SlaClockStarted

    await put_agent(router, "ana", channels={"portal": 1})
    busy = await create(router)
    later, sooner = await create(router), await create(router)
    for ticket, hours in ((later, 8), (sooner, 2)):
        await deliver(router, SlaClockStarted(
            ticket_id=ticket, clock="resolution", priority="P3", started_at=router.clock.now(),
            due_at=router.clock.now() + timedelta(hours=hours), target_seconds=hours * 3600))
    assert await queued(router) == [sooner, later]  # same priority: nearest deadline first
    old_p4 = await create(router, priority="P4")
    tick(router, 3600)  # two aging steps of 30 minutes: P4 has earned the rank of a P2
    await review_queue(router)
    fresh_p3 = await create(router)
    # the old P4 now waits ahead of a fresh P3; the P3s that aged alongside it have earned
    # the same rank and go first on their SLA due times
    assert await queued(router) == [sooner, later, old_p4, fresh_p3]
    p1 = await create(router, priority="P1")
    assert (await queued(router))[0] == p1  # aging never overtakes a P1
    await status(router, busy, "in_progress", "resolved")
    assert await holder(router, p1) == ("ana", "offered")


async def test_presence_from_a_platform_event_applies_but_routers_own_echo_does_not(
        router: Any) -> None:
    from tierline_shared.bus.envelope import Envelope
    from tierline_shared.bus.events import AgentPresenceChanged

    await put_agent(router, "ana")
    await put_agent(router, "ben", presence="offline")
    ticket = await create(router)
    assert await holder(router, ticket) == ("ana", "offered")
    # the telephony platform says ben is back and ana stepped away
    for agent_id, value in (("ben", "available"), ("ana", "away")):
        await deliver(router, AgentPresenceChanged(agent_id=agent_id, presence=value,
                                                   changed_at=router.clock.now()))
    assert await holder(router, ticket) == ("ben", "offered")
    # router reading its own old event back from the topic changes nothing
    echo = Envelope.wrap(AgentPresenceChanged(agent_id="ana", presence="available",
                                              changed_at=router.clock.now()),
                         source=router.source, time=router.clock.now())
    await deliver_envelope(router, echo)
    async with router.sessions() as session:
        assert await session.scalar(select(agents.c.presence).where(agents.c.id == "ana")) \
            == "away"


async def test_a_rule_can_move_accepted_work_when_its_agent_goes_offline(router: Any) -> None:
    await put_agent(router, "ana")
    await put_agent(router, "ben")
    ticket = await create(router)
    await answer(router, ticket, "ana", accepted=True)
    await presence(router, "ana", "away")
    assert await holder(router, ticket) == ("ana", "accepted")  # default: accepted stays
    await presence(router, "ana", "available")
    context = router_context(router)
    context.routing_policy = context.routing_policy.model_copy(
        update={"reroute_accepted_when": ["offline"]})
    await presence(router, "ana", "offline")
    assert await holder(router, ticket) == ("ben", "offered")
    assigned = [b for k, b in await outbox_events(router, str(ticket))
                if k == TicketAssigned.event_type][-1]
    assert assigned["reasons"]["trigger"] == "ana went offline"


async def test_router_moves_on_the_request_and_ignores_sla_echoing_it(router: Any) -> None:
    from tierline_shared.bus.events import ReassignmentRequested

    await put_agent(router, "t1")
    await put_agent(router, "t2", tier=2)
    ticket = await create(router)
    await answer(router, ticket, "t1", accepted=True)
    await deliver(router, ReassignmentRequested(
        ticket_id=ticket, requested_by="t1", reason="needs tier 2", to_tier=2,
        requested_at=router.clock.now()))
    assert await holder(router, ticket) == ("t2", "offered")
    await answer(router, ticket, "t2", accepted=True)
    await deliver(router, TicketEscalated(  # sla's record of the same request
        ticket_id=ticket, kind="functional", level=1, trigger="agent", rule="agent-request",
        reason="t1: needs tier 2", to_tier=2, escalated_at=router.clock.now()))
    assert await holder(router, ticket) == ("t2", "accepted")
    assigned = [b for k, b in await outbox_events(router, str(ticket))
                if k == TicketAssigned.event_type]
    assert len(assigned) == 2
