"""Intake learns router's outcome, on the real broker and PostgreSQL: router's events are
published on the routing topic, read back and handed to intake's real consumer loop (inbox
and handler registry); the ticket is read through intake's API. Offered, accepted, declined,
timed out, queued; a late or repeated event changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from tests.helpers import attach, header, offline_runtime, produce, read_topic
from tierline_intake.app import SPEC, _start, create_app
from tierline_shared.bus.consumer import ConsumerLoop
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    Event,
    TicketAssigned,
    TicketOfferAnswered,
    TicketQueued,
)
from tierline_shared.bus.kafka import ensure_topics
from tierline_shared.bus.topics import Topics
from tierline_shared.clock import FrozenClock

pytestmark = [pytest.mark.db, pytest.mark.kafka]

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ROUTING = ("routing_state", "offered_agent", "offered_tier", "assigned_agent",
           "assigned_tier")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Intake:
    def __init__(self, runtime: Any, client: httpx.AsyncClient, kafka: Any) -> None:
        self.runtime, self.client, self.kafka = runtime, client, kafka
        self.loop = ConsumerLoop(
            name="intake", group_id="unused.intake", topics=[],
            handlers=SPEC.handlers(runtime), transaction=runtime.transaction,
            inbox=SPEC.inbox, bootstrap_servers="unused:9", deadletter_topic="unused",
            all_topics=[], partitions=1, replication_factor=1, registry=CollectorRegistry(),
            max_attempts=1, retry_backoff_s=0)

    async def ticket(self) -> uuid.UUID:
        r = await self.client.post("/v1/tickets", json={
            "title": "VPN keeps disconnecting", "channel": "portal",
            "description": "The VPN drops every few minutes since this morning",
            "requester": {"id": f"u-{uuid.uuid4().hex[:8]}"}})
        assert r.status_code == 201, r.text
        return uuid.UUID(r.json()["id"])

    async def published(self, events: list[Event]) -> list[Any]:
        """``events`` as router publishes them, read back from the broker in order."""
        topics = Topics(f"r{uuid.uuid4().hex[:10]}")
        await ensure_topics(self.kafka.bootstrap_servers, topics.all(), partitions=1,
                            replication_factor=1)
        envelopes = [Envelope.wrap(e, source="/tierline/router", time=T0) for e in events]
        await produce(self.kafka.bootstrap_servers, topics.routing,
                      [(env.key, env.body(), env.headers()) for env in envelopes])
        records = await read_topic(self.kafka.bootstrap_servers, topics.routing,
                                   lambda recs: len(recs) >= len(envelopes))
        assert [header(r, "ce_id") for r in records] == [str(env.id) for env in envelopes]
        return records

    async def route(self, *events: Event) -> list[Any]:
        records = await self.published(list(events))
        await self.loop.process(records)
        return records

    async def routing(self, tid: uuid.UUID) -> dict[str, Any]:
        r = await self.client.get(f"/v1/tickets/{tid}")
        assert r.status_code == 200, r.text
        return {k: r.json()[k] for k in ROUTING}

    async def audit(self, tid: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
        r = await self.client.get(f"/v1/tickets/{tid}/audit")
        assert r.status_code == 200, r.text
        return [(e["action"], e["changes"]) for e in r.json()["items"]
                if e["actor"]["name"] == "system:intake"]


@pytest.fixture(scope="module")
async def intake(database_url: str, kafka: Any) -> AsyncIterator[Intake]:
    runtime = offline_runtime(SPEC, database_url, FrozenClock(T0))
    await _start(runtime)
    app = create_app(runtime.settings)
    key = attach(app, runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i",
                                 headers={"X-API-Key": key}) as client:
        yield Intake(runtime, client, kafka)
    await runtime.engine.dispose()


def offer(tid: uuid.UUID, agent: str, attempt: int, s: float, tier: int = 1) -> TicketAssigned:
    return TicketAssigned(ticket_id=tid, agent_id=agent, agent_tier=tier, priority="P3",
                          category="network", channel="portal", assigned_at=at(s),
                          attempt=attempt, offer_expires_at=at(s + 120))


def answer(tid: uuid.UUID, agent: str, outcome: str, s: float,
           attempt: int | None) -> TicketOfferAnswered:
    """``attempt`` None: as router published answers before it numbered them."""
    return TicketOfferAnswered(ticket_id=tid, agent_id=agent, outcome=outcome,  # type: ignore[arg-type]
                               answered_at=at(s), attempt=attempt)


def queued(tid: uuid.UUID, s: float, attempt: int | None) -> TicketQueued:
    return TicketQueued(ticket_id=tid, priority="P3", category="network", queued_at=at(s),
                        reason="no available agent with network in tiers 1-3", attempt=attempt)


async def test_offered_then_accepted_shows_the_agent_who_holds_it(intake: Intake) -> None:
    tid = await intake.ticket()
    assert await intake.routing(tid) == dict.fromkeys(ROUTING)
    await intake.route(offer(tid, "ana", 1, 0, tier=2))
    assert await intake.routing(tid) == {"routing_state": "offered", "offered_agent": "ana",
                                         "offered_tier": 2, "assigned_agent": None,
                                         "assigned_tier": None}
    r = await intake.client.get(f"/v1/tickets/{tid}")
    assert r.json()["offer_expires_at"] == "2026-12-01T09:02:00Z"
    await intake.route(answer(tid, "ana", "accepted", 30, 1))
    assert await intake.routing(tid) == {"routing_state": "accepted", "offered_agent": None,
                                         "offered_tier": None, "assigned_agent": "ana",
                                         "assigned_tier": 2}
    found = (await intake.client.get("/v1/tickets", params={
        "assigned_agent": "ana", "routing_state": "accepted"})).json()["items"]
    assert [(t["id"], t["assigned_agent"], t["routing_state"]) for t in found
            if t["id"] == str(tid)] == [(str(tid), "ana", "accepted")]
    assert await intake.audit(tid) == [
        ("offered", {"routing_state": {"before": None, "after": "offered"},
                     "offered_agent": {"before": None, "after": "ana"},
                     "offered_tier": {"before": None, "after": 2}}),
        ("assigned", {"routing_state": {"before": "offered", "after": "accepted"},
                      "offered_agent": {"before": "ana", "after": None},
                      "offered_tier": {"before": 2, "after": None},
                      "assigned_agent": {"before": None, "after": "ana"},
                      "assigned_tier": {"before": None, "after": 2}})]


async def test_offered_declined_then_queued_names_no_agent(intake: Intake) -> None:
    tid = await intake.ticket()
    # router's decline and the queueing come from one transaction, at one instant
    await intake.route(offer(tid, "ana", 1, 0), answer(tid, "ana", "declined", 10, 1),
                       queued(tid, 10, 1))
    assert await intake.routing(tid) == {"routing_state": "queued", **dict.fromkeys(
        ROUTING[1:])}
    page = (await intake.client.get("/v1/tickets", params={"routing_state": "queued"})).json()
    item = next(t for t in page["items"] if t["id"] == str(tid))
    assert (item["offered_agent"], item["assigned_agent"]) == (None, None)
    assert [action for action, _ in await intake.audit(tid)] == [
        "offered", "offer_declined", "queued"]


async def test_timed_out_then_offered_to_another_names_the_new_agent(intake: Intake) -> None:
    tid = await intake.ticket()
    await intake.route(offer(tid, "ana", 1, 0))
    await intake.route(answer(tid, "ana", "timed_out", 120, 1),
                       offer(tid, "ben", 2, 120, tier=2))
    assert await intake.routing(tid) == {"routing_state": "offered", "offered_agent": "ben",
                                         "offered_tier": 2, "assigned_agent": None,
                                         "assigned_tier": None}
    by_ana = (await intake.client.get("/v1/tickets", params={"offered_agent": "ana"})).json()
    by_ben = (await intake.client.get("/v1/tickets", params={"offered_agent": "ben"})).json()
    assert str(tid) not in {t["id"] for t in by_ana["items"]}
    assert str(tid) in {t["id"] for t in by_ben["items"]}


@pytest.mark.parametrize("numbered", [True, False], ids=["numbered", "by-time"])
async def test_a_stale_answer_after_a_newer_offer_changes_nothing(intake: Intake,
                                                                  numbered: bool) -> None:
    tid = await intake.ticket()
    n = (lambda k: k) if numbered else (lambda k: None)  # noqa: E731
    await intake.route(offer(tid, "ana", 1, 0), answer(tid, "ana", "timed_out", 120, n(1)),
                       offer(tid, "ben", 2, 120))
    before = await intake.routing(tid)
    audited = await intake.audit(tid)
    # late copies (new event ids, so the inbox lets them through): answers to ana's old
    # offer, ben's answer older than his offer, the old offer itself, older queueings
    await intake.route(answer(tid, "ana", "timed_out", 120, n(1)),
                       answer(tid, "ana", "accepted", 60, n(1)),
                       answer(tid, "ben", "declined", 100, n(1)), offer(tid, "ana", 1, 0),
                       queued(tid, 110, n(0)), queued(tid, 120, n(1)))
    assert await intake.routing(tid) == before == {
        "routing_state": "offered", "offered_agent": "ben", "offered_tier": 1,
        "assigned_agent": None, "assigned_tier": None}
    assert await intake.audit(tid) == audited
    # and ben's acceptance still lands
    await intake.route(answer(tid, "ben", "accepted", 130, n(2)))
    assert (await intake.routing(tid))["assigned_agent"] == "ben"


async def test_duplicates_are_applied_once(intake: Intake) -> None:
    tid = await intake.ticket()
    facts = [offer(tid, "ana", 1, 0), answer(tid, "ana", "declined", 5, 1), queued(tid, 5, 1),
             offer(tid, "ben", 2, 60), answer(tid, "ben", "accepted", 70, 2)]
    records = await intake.route(*facts)
    once = await intake.routing(tid), await intake.audit(tid)
    await intake.loop.process(records)  # redelivered: the inbox drops them
    await intake.loop.process([r for r in records for _ in (0, 1)])
    await intake.route(*facts)  # published twice (new event ids): the ticket's guards
    await intake.route(*[f for f in facts for _ in (0, 1)])
    assert (await intake.routing(tid), await intake.audit(tid)) == once
    assert once[0] == {"routing_state": "accepted", "offered_agent": None,
                       "offered_tier": None, "assigned_agent": "ben", "assigned_tier": 1}
    assert [action for action, _ in once[1]] == [
        "offered", "offer_declined", "queued", "offered", "assigned"]
