"""The walking skeleton's path, end to end through the running services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Stack, counter, ticket
from tests.helpers import eventually, header, produce, read_topic
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import TicketAssigned, TicketCreated
from tierline_shared.migrate import SERVICES

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


async def metrics_text(stack: Stack) -> str:
    async with stack.client() as client:
        return (await client.get(f"{stack.url('metrics')}/metrics")).text


async def wait_assigned(stack: Stack, ticket_id: str) -> dict:
    async with stack.client("router") as client:
        async def check() -> dict | None:
            r = await client.get(f"/v1/assignments/{ticket_id}")
            return r.json() if r.status_code == 200 else None

        return await eventually(check, what=f"assignment of {ticket_id}")


async def test_a_ticket_is_logged_assigned_clocked_and_counted(stack: Stack) -> None:
    labels = {"priority": "P2", "category": "network"}
    before = await metrics_text(stack)
    async with stack.client() as client:
        r = await client.post(f"{stack.url('intake')}/v1/tickets", json=ticket())
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["type"] == "incident"
        assert body["category"] == "network"
        assert body["priority"] == "P2"
        assert r.headers["location"] == f"/v1/tickets/{body['id']}"
        got = await client.get(f"{stack.url('intake')}/v1/tickets/{body['id']}")
        assert got.status_code == 200 and got.json() == body

    records = await read_topic(stack.bootstrap, stack.topics.routing, lambda recs: any(
        header(r, "ce_subject") == body["id"] and
        header(r, "ce_type") == TicketAssigned.event_type for r in recs))
    assigned = next(r for r in records if header(r, "ce_subject") == body["id"])
    assert assigned.key == body["id"].encode()
    assert header(assigned, "ce_source") == "/tierline/router"

    assignment = await wait_assigned(stack, body["id"])
    assert assignment["agent_id"].startswith("agent-")
    assert assignment["reasons"]["chosen"] == assignment["agent_id"]

    async with stack.client("sla") as client:
        async def clocks() -> dict | None:
            r = await client.get(f"/v1/sla/{body['id']}")
            return r.json() if r.status_code == 200 else None

        sla = await eventually(clocks, what="SLA clocks")
    by_clock = {c["clock"]: c for c in sla["clocks"]}
    created = datetime.fromisoformat(body["created_at"])
    assert datetime.fromisoformat(by_clock["first_response"]["due_at"]) == \
        created + timedelta(minutes=30)
    assert datetime.fromisoformat(by_clock["resolution"]["due_at"]) == \
        created + timedelta(minutes=480)

    async def counted() -> bool:
        now = await metrics_text(stack)
        return (counter(now, "tierline_tickets_created_total", **labels) ==
                counter(before, "tierline_tickets_created_total", **labels) + 1 and
                counter(now, "tierline_tickets_assigned_total", **labels) ==
                counter(before, "tierline_tickets_assigned_total", **labels) + 1)

    await eventually(counted, what="metrics counters moved by one")


async def test_unplaceable_ticket_waits_404_then_is_placed_when_an_agent_fits(
        stack: Stack) -> None:
    async with stack.client() as client:
        r = await client.post(f"{stack.url('intake')}/v1/tickets",
                              json=ticket(channel="phone", title="Printer jammed",
                                          description="The printer on floor 3 is jammed"))
        assert r.status_code == 201
        ticket_id = r.json()["id"]

        async def queued() -> bool:
            a = await client.get(f"{stack.url('router')}/v1/assignments/{ticket_id}")
            return a.status_code == 404 and a.json().get("state") == "queued"

        await eventually(queued, what="ticket queued (no agent works the phone channel)")
        put = await client.put(f"{stack.url('router')}/v1/agents/phone-desk", json={
            "name": "Phone Desk", "tier": 1, "skills": {"hardware": 3},
            "channels": {"phone": 1}})
        assert put.status_code == 200, put.text
        assignment = await wait_assigned(stack, ticket_id)
        assert assignment["agent_id"] == "phone-desk"
        busy = await client.post(f"{stack.url('intake')}/v1/tickets",
                                 json=ticket(channel="phone", title="Printer offline",
                                             description="Printer shows offline"))
        second = busy.json()["id"]

        async def waiting() -> bool:  # phone capacity 1 is taken: the second one waits
            a = await client.get(f"{stack.url('router')}/v1/assignments/{second}")
            return a.status_code == 404 and a.json()["state"] == "queued"

        await eventually(waiting, what="second phone ticket queued")


def _created_envelope() -> Envelope:
    now = datetime.now(UTC)
    return Envelope.wrap(TicketCreated(
        ticket_id=uuid.uuid4(), ticket_type="incident", title="dup", category="software",
        priority="P4", impact="low", urgency="medium", channel="email", requester_id="u-9",
        created_at=now), source="/tierline/intake", time=now)


async def test_the_same_event_delivered_twice_is_applied_once_everywhere(stack: Stack) -> None:
    labels = {"priority": "P4", "category": "software"}
    before = await metrics_text(stack)
    env = _created_envelope()
    tid = str(env.event.ticket_id)
    message = (env.key, env.body(), env.headers())
    await produce(stack.bootstrap, stack.topics.incidents, [message, message])
    await wait_assigned(stack, tid)
    routed = await read_topic(stack.bootstrap, stack.topics.routing, lambda recs: any(
        header(r, "ce_subject") == tid for r in recs))
    assigned = next(r for r in routed if header(r, "ce_subject") == tid)
    # Deliver router's assignment event a second time too, to sla and metrics.
    await produce(stack.bootstrap, stack.topics.routing,
                  [(assigned.key, assigned.value, list(assigned.headers))])
    await produce(stack.bootstrap, stack.topics.incidents, [message])  # and a third time, late

    async def settled() -> bool:
        return await stack.scalar(
            "SELECT count(*) FROM metrics.processed_events WHERE event_id IN (:a, :b)",
            a=env.id, b=uuid.UUID(header(assigned, "ce_id"))) == 2 and await stack.scalar(
            "SELECT count(*) FROM sla.history WHERE ticket_id = :t", t=env.event.ticket_id) >= 2

    await eventually(settled, what="sla and metrics saw both events")
    marker = _created_envelope()  # a later event proves the duplicates were consumed too
    await produce(stack.bootstrap, stack.topics.incidents,
                  [(marker.key, marker.body(), marker.headers())])
    await wait_assigned(stack, str(marker.event.ticket_id))

    assert await stack.scalar("SELECT count(*) FROM router.assignments WHERE ticket_id = :t",
                              t=env.event.ticket_id) == 1
    assert await stack.scalar(
        "SELECT count(*) FROM router.processed_events WHERE event_id = :e", e=env.id) == 1
    assert await stack.scalar("SELECT count(*) FROM sla.clocks WHERE ticket_id = :t",
                              t=env.event.ticket_id) == 2
    assert await stack.scalar("SELECT count(*) FROM sla.history WHERE ticket_id = :t",
                              t=env.event.ticket_id) == 2

    async def metrics_settled() -> bool:
        now = await metrics_text(stack)
        return all(counter(now, name, **labels) >= counter(before, name, **labels) + 2
                   for name in ("tierline_tickets_created_total",
                                "tierline_tickets_assigned_total"))

    await eventually(metrics_settled, what="metrics counted the ticket and the marker")
    now = await metrics_text(stack)
    assert counter(now, "tierline_tickets_created_total", **labels) == \
        counter(before, "tierline_tickets_created_total", **labels) + 2  # ticket + marker
    assert counter(now, "tierline_tickets_assigned_total", **labels) == \
        counter(before, "tierline_tickets_assigned_total", **labels) + 2


async def test_a_malformed_message_is_dead_lettered_by_each_consumer(stack: Stack) -> None:
    await produce(stack.bootstrap, stack.topics.incidents, [
        (b"garbage", b"{not json", [("ce_type", TicketCreated.event_type.encode())])])
    after = _created_envelope()
    await produce(stack.bootstrap, stack.topics.incidents,
                  [(after.key, after.body(), after.headers())])
    await wait_assigned(stack, str(after.event.ticket_id))
    dead = await read_topic(stack.bootstrap, stack.topics.deadletter, lambda recs: {
        header(r, "dlq_consumer") for r in recs if r.value == b"{not json"} >= {
        "router", "sla", "metrics"})
    for record in (r for r in dead if r.value == b"{not json"):
        assert header(record, "dlq_topic") == stack.topics.incidents
        assert header(record, "dlq_error").startswith("invalid: missing CloudEvents headers")


async def test_every_service_answers_health_readiness_and_metrics(stack: Stack) -> None:
    async with stack.client() as client:
        for service in SERVICES:
            base = stack.url(service)
            assert (await client.get(f"{base}/healthz")).json() == {
                "status": "ok", "service": service}
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 200

            async def all_checks(base: str = base) -> bool:  # intake is ready before its
                r = await client.get(f"{base}/readyz")       # consumer has joined its group
                return r.json()["checks"] == {"database": True, "broker": True,
                                              "consumer": True}

            await eventually(all_checks, what=f"every check of {service} true")
            exposition = (await client.get(f"{base}/metrics")).text
            assert "tierline_http_requests_total" in exposition
            assert "process_resident_memory_bytes" in exposition
