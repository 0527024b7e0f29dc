"""Signed outbound webhooks from the running intake to receivers in the test (on 127.0.0.1):
every kind delivered and verified, retries with backoff, dead letters, a delivery log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.channels_stack import intake_fixture  # noqa: F401
from tests.e2e.conftest import Stack, counter
from tests.helpers import eventually, produce
from tests.samples import sample
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    Event,
    MajorIncidentDeclared,
    SlaBreached,
    SlaWarning,
    TicketAssigned,
    TicketEscalated,
)
from tierline_shared.embedded import free_port

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

SECRET = "receiver-secret-0123456789"


def signed_by(secret: str, header: str, body: bytes) -> bool:
    """The receiver's own check, written from the documented scheme."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), parts["v1"]) and \
        abs(time.time() - int(parts["t"])) < 300


class Receiver:
    """Answers like the systems it stands for: fine, flaky, down, or too slow."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.refused_signatures = 0
        self.tries: dict[str, int] = defaultdict(int)
        app = Starlette(routes=[Route("/{name}", self.handle, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    async def handle(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        delivery = request.headers["x-tierline-delivery"]
        self.tries[delivery] += 1
        if name == "down":
            return Response(status_code=503)
        if name == "slow":
            await asyncio.sleep(2)
        if name == "flaky" and self.tries[delivery] <= 2:
            return Response(status_code=500)
        if not signed_by(SECRET, request.headers["x-tierline-signature"], body):
            self.refused_signatures += 1
            return Response(status_code=401)
        self.received[name].append({**json.loads(body), "headers": dict(request.headers)})
        return Response(status_code=204)


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    task = asyncio.create_task(r.server.serve())
    await eventually(lambda: asyncio.sleep(0, r.server.started), what="receiver started")
    yield r
    r.server.should_exit = True
    await task


async def subscribe(stack: Stack, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    async with stack.client("intake") as client:
        r = await client.post("/v1/webhooks", json={"url": url, "events": events,
                                                    "secret": SECRET, "backoff_s": 0.05,
                                                    "max_attempts": 3, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def deliveries(stack: Stack, **params: str) -> list[dict[str, Any]]:
    async with stack.client("intake") as client:
        r = await client.get("/v1/webhooks/deliveries", params=params)
    assert r.status_code == 200, r.text
    assert r.json()["total"] >= len(r.json()["items"])
    return r.json()["items"]


async def publish(stack: Stack, topic: str, *events: Event) -> None:
    now = datetime.now(UTC)
    envelopes = [Envelope.wrap(e, source="/test", time=now) for e in events]
    await produce(stack.bootstrap, topic, [(e.key, e.body(), e.headers()) for e in envelopes])


async def test_signed_webhooks_with_retries_dead_letters_and_a_log(
        intake: Stack, receiver: Receiver) -> None:
    kinds = ["assignment", "status", "sla_warning", "sla_breach", "escalation",
             "major_incident"]
    fine = await subscribe(intake, receiver.url("fine"), kinds)
    flaky = await subscribe(intake, receiver.url("flaky"), ["status"])
    down = await subscribe(intake, receiver.url("down"), ["status"])
    slow = await subscribe(intake, receiver.url("slow"), ["status"], timeout_s=0.2,
                           max_attempts=2)
    jira_only = await subscribe(intake, receiver.url("jira"), ["status"], system="jira")
    assert fine["secret"] == SECRET
    before = await outcomes(intake)

    async with intake.client("intake") as client:
        mine = {fine["id"], flaky["id"], down["id"], slow["id"], jira_only["id"]}
        listed = (await client.get("/v1/webhooks", params={"limit": 500})).json()
        assert mine <= {s["id"] for s in listed["items"]} and listed["total"] >= 5
        two = (await client.get("/v1/webhooks", params={"limit": 2, "offset": 1})).json()
        assert two["items"] == listed["items"][1:3] and two["total"] == listed["total"]
        ticket = (await client.post("/v1/tickets", json={
            "title": "VPN keeps disconnecting", "description": "Drops every few minutes",
            "channel": "portal", "requester": {"id": "u-wh"}})).json()
        moved = await client.post(f"/v1/tickets/{ticket['id']}/events", json={
            "type": "status_change", "status": "acknowledged", "actor": "ana"})
        assert moved.status_code == 200
    tid, now = uuid.UUID(ticket["id"]), datetime.now(UTC)
    await publish(intake, intake.topics.routing, TicketAssigned(
        ticket_id=tid, agent_id="ana", agent_tier=1, priority="P3", category="network",
        channel="portal", assigned_at=now))
    await publish(intake, intake.topics.sla,
                  SlaWarning(ticket_id=tid, clock="resolution", priority="P3",
                             threshold_percent=75, due_at=now, target_seconds=3600, at=now),
                  SlaBreached(ticket_id=tid, clock="resolution", priority="P3", due_at=now,
                              target_seconds=3600, at=now),
                  TicketEscalated(ticket_id=tid, kind="hierarchical", level=1, trigger="time",
                                  rule="breach", reason="resolution breached",
                                  notify=["team_manager"], escalated_at=now),
                  MajorIncidentDeclared(major_incident_id=uuid.uuid4(), title="VPN outage",
                                        trigger="rule", reason="5 incidents on vpn-gw-01",
                                        declared_by="tierline-sla", ticket_ids=[tid],
                                        declared_at=now))

    got = await eventually(lambda: asyncio.sleep(0, len(receiver.received["fine"]) == 6
                                                 and receiver.received["fine"]),
                           what="all six kinds delivered")
    assert sorted(d["kind"] for d in got) == sorted(kinds)
    status = next(d for d in got if d["kind"] == "status")
    assert status["data"]["to_status"] == "acknowledged"
    assert status["ticket"]["id"] == ticket["id"]
    assert next(d for d in got if d["kind"] == "major_incident")["ticket"] is None
    assert receiver.refused_signatures == 0

    async def settled(sub: dict[str, Any], state: str) -> list[dict[str, Any]]:
        rows = await deliveries(intake, subscription_id=sub["id"])
        return rows if rows and all(r["status"] == state for r in rows) else []

    flaky_log = (await eventually(lambda: settled(flaky, "delivered"), what="flaky"))[0]
    assert flaky_log["attempts"] == 3
    assert [e["status_code"] for e in flaky_log["log"]] == [500, 500, 204]
    dead = (await eventually(lambda: settled(down, "dead"), what="down dead-lettered"))[0]
    assert dead["attempts"] == 3 and dead["last_error"] == "HTTP 503"
    assert [e["attempt"] for e in dead["log"]] == [1, 2, 3]
    timed_out = (await eventually(lambda: settled(slow, "dead"), what="slow dead"))[0]
    assert [e["error"] for e in timed_out["log"]] == ["timed out after 0.2 s"] * 2
    # Receivers that fail or hang never held up the others: each event reached `fine` once.
    fine_log = await deliveries(intake, subscription_id=fine["id"])
    assert all(d["status"] == "delivered" and d["attempts"] == 1 for d in fine_log)
    assert {d["id"] for d in await deliveries(intake, status="dead")} >= {dead["id"],
                                                                          timed_out["id"]}
    assert await deliveries(intake, subscription_id=jira_only["id"]) == []

    async with intake.client("intake") as client:
        again = await client.post(f"/v1/webhooks/deliveries/{dead['id']}/redeliver")
        assert again.status_code == 200 and again.json()["status"] == "pending"
        refused = await client.post(f"/v1/webhooks/deliveries/{flaky_log['id']}/redeliver")
        assert refused.status_code == 409
    redead = (await eventually(lambda: settled(down, "dead"), what="dead again"))[0]
    assert len(redead["log"]) == 6
    # Each attempt counted by outcome on /metrics: fine 6 delivered; flaky 2 retries then
    # delivered; down 2 retries and dead, twice; slow 1 retry and dead.
    after = await outcomes(intake)
    assert {k: after[k] - before[k] for k in after} == {"delivered": 7, "retry": 7, "dead": 3}


async def outcomes(intake: Stack) -> dict[str, float]:
    async with intake.client("intake") as client:
        text = (await client.get("/metrics")).text
    return {outcome: counter(text, "tierline_webhook_deliveries_total", outcome=outcome)
            for outcome in ("delivered", "retry", "dead")}


async def test_a_system_filter_sends_only_its_own_tickets(intake: Stack,
                                                         receiver: Receiver) -> None:
    sub = await subscribe(intake, receiver.url("zendesk"), ["status"], system="zendesk")
    async with intake.client("intake") as client:
        await client.post("/v1/adapters/zendesk", json=sample("zendesk_ticket"))
        r = await client.post("/v1/adapters/zendesk", json=sample("zendesk_event_webhook"))
        assert r.status_code == 200, r.text
    got = await eventually(lambda: asyncio.sleep(0, len(receiver.received["zendesk"]) >= 2
                                                 and receiver.received["zendesk"]),
                           what="zendesk status changes")
    assert {d["ticket"]["external_id"] for d in got} == {"35436"}
    assert [d["data"]["to_status"] for d in got] == ["in_progress", "pending_customer"]
    assert all(d["subscription_id"] == sub["id"] for d in await deliveries(
        intake, subscription_id=sub["id"]))


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://x.example.com", "events": ["status"]}, "body.url"),
    ({"url": "https://x.example.com", "events": []}, "body.events"),
    ({"url": "https://x.example.com", "events": ["lunch"]}, "body.events.0"),
    ({"url": "https://x.example.com", "events": ["status"], "secret": "short"}, "body.secret"),
    ({"url": "https://x.example.com", "events": ["status"], "max_attempts": 0},
     "body.max_attempts"),
])
async def test_bad_subscriptions_name_the_field(intake: Stack, body: dict[str, Any],
                                                field: str) -> None:
    async with intake.client("intake") as client:
        r = await client.post("/v1/webhooks", json=body)
    assert r.status_code == 422 and field in [p["field"] for p in r.json()["detail"]]
