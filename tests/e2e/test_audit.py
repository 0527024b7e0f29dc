"""The audit log through the running services: each change to a ticket or an agent names the
API key that made it (or the service, for what it did on an event), the action and the
changed fields before and after, in order; a refused change leaves no entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, ticket
from tests.helpers import eventually, produce
from tierline_shared.audit import REDACTED
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import AgentPresenceChanged

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


async def new_key(stack: Stack, *scopes: str, name: str) -> dict[str, Any]:
    async with stack.client("intake") as client:
        r = await client.post("/v1/keys", json={"name": name, "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    return r.json()


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e["actor"]["name"], e["action"], e["changes"]) for e in entries]


async def audit_of(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_ticket_changes_name_their_key_and_show_before_and_after(stack: Stack) -> None:
    ana = await new_key(stack, "tickets:write", name="desk-ana")
    ben = await new_key(stack, "tickets:write", name="desk-ben")
    auditor = await new_key(stack, "tickets:read", name="auditor")
    intake = stack.url("intake")
    async with stack.client(key=ana["key"]) as as_ana, \
            stack.client(key=ben["key"]) as as_ben, \
            stack.client(key=auditor["key"]) as as_auditor:
        body = ticket(requester={"id": "u-77", "name": "Ada", "email": "ada@example.com"},
                      impact="medium", urgency="medium")
        r = await as_ana.post(f"{intake}/v1/tickets", json=body,
                              headers={"Idempotency-Key": f"audit-{uuid.uuid4()}"})
        assert r.status_code == 201, r.text
        tid, priority = r.json()["id"], r.json()["priority"]
        replay = await as_ana.post(f"{intake}/v1/tickets", json=body,
                                   headers={"Idempotency-Key": r.request.headers[
                                       "Idempotency-Key"]})
        assert replay.headers.get("Idempotent-Replayed") == "true"  # no second entry
        events = f"{intake}/v1/tickets/{tid}/events"
        new_priority = "P1" if priority != "P1" else "P2"
        assert (await as_ben.post(events, json={
            "type": "priority_change", "priority": new_priority, "by": "ben",
            "reason": "whole floor affected"})).status_code == 200
        assert (await as_ana.post(events, json={
            "type": "status_change", "status": "acknowledged", "actor": "ana"})).status_code \
            == 200
        assert (await as_ben.post(events, json={
            "type": "comment", "author": "ben", "text": "call her on +44 20 7946 0958",
            "public": False})).status_code == 200
        assert (await as_ana.post(events, json={
            "type": "status_change", "status": "resolved", "actor": "ana",
            "resolution_notes": "Replaced the VPN profile"})).status_code == 200

        # Refused changes: a transition the lifecycle forbids (409), a priority it already
        # has (422), a bad body (422), a key without the write scope (403).
        refused = [
            await as_ben.post(events, json={"type": "status_change", "status": "closed",
                                            "actor": "ben"}),
            await as_ben.post(events, json={"type": "priority_change",
                                            "priority": new_priority, "by": "ben"}),
            await as_ben.post(events, json={"type": "status_change", "status": "nowhere"}),
            await as_auditor.post(events, json={"type": "comment", "author": "x",
                                                "text": "not allowed"}),
        ]
        assert [r.status_code for r in refused] == [409, 422, 422, 403], \
            [r.text for r in refused]

        # Router's offer reaches intake as an event: the service itself is its actor.
        async def offered() -> dict[str, Any] | None:
            page = await audit_of(as_auditor, f"{intake}/v1/tickets/{tid}/audit")
            # the page's count and its items are read apart: wait for an entry that
            # landed between the two to be in both
            return page if any(e["action"] == "offered" for e in page["items"]) \
                and page["total"] == len(page["items"]) else None

        page = await eventually(offered, what="the offer's entry")
        by_keys = [e for e in page["items"] if not e["actor"]["name"].startswith("system:")]
        by_system = [e for e in page["items"] if e["actor"]["name"].startswith("system:")]
        assert [(e["actor"], e["action"]) for e in by_system] == [
            ({"name": "system:intake", "key_id": None}, "offered")]
        assert by_system[0]["changes"]["routing_state"] == {"before": None, "after": "offered"}
        assert by_system[0]["changes"]["offered_agent"]["before"] is None
        assert by_system[0]["changes"]["offered_agent"]["after"].startswith("agent-")

        created, prioritized, acknowledged, commented, resolved = by_keys
        assert [(e["actor"]["name"], e["action"]) for e in by_keys] == [
            ("desk-ana", "created"), ("desk-ben", "priority_changed"),
            ("desk-ana", "status_changed"), ("desk-ben", "commented"),
            ("desk-ana", "status_changed")]
        assert [e["actor"]["key_id"] for e in by_keys] == [
            ana["id"], ben["id"], ana["id"], ben["id"], ana["id"]]
        assert created["changes"]["status"] == {"before": None, "after": "new"}
        assert created["changes"]["priority"] == {"before": None, "after": priority}
        assert created["changes"]["requester"]["after"] == {
            "id": "u-77", "name": "Ada", "email": REDACTED, "vip": False}
        assert "reasons" not in created["changes"] and "updated_at" not in created["changes"]
        assert prioritized["changes"] == {"priority": {"before": priority,
                                                       "after": new_priority}}
        assert acknowledged["changes"] == {"status": {"before": "new",
                                                      "after": "acknowledged"}}
        assert commented["changes"] == {"comment": {"before": None, "after": {
            "author": "ben", "text": "call her on [phone]", "public": False}}}
        assert resolved["changes"]["status"] == {"before": "acknowledged",
                                                 "after": "resolved"}
        assert resolved["changes"]["resolution_notes"] == {
            "before": None, "after": "Replaced the VPN profile"}
        assert resolved["changes"]["resolved_at"]["before"] is None
        times = [datetime.fromisoformat(e["at"]) for e in page["items"]]
        assert times == sorted(times) and all(t.tzinfo is not None for t in times)
        assert "ada@example.com" not in str(page) and "7946" not in str(page)
        assert page["total"] == len(page["items"]) and page["offset"] == 0

        window = await audit_of(as_auditor, f"{intake}/v1/tickets/{tid}/audit",
                                limit=2, offset=1)
        assert window["total"] == page["total"] and (window["limit"], window["offset"]) == \
            (2, 1)
        assert [e["id"] for e in window["items"]] == [e["id"] for e in page["items"][1:3]]

        missing = await as_auditor.get(f"{intake}/v1/tickets/{uuid.uuid4()}/audit")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert (await as_auditor.get(f"{intake}/v1/tickets/{tid}/audit",
                                     params={"limit": 0})).status_code == 422
    async with stack.client(key=(await new_key(stack, "agents:read", name="x"))["key"]) as other:
        forbidden = await other.get(f"{intake}/v1/tickets/{tid}/audit")
        assert forbidden.status_code == 403 and forbidden.json()["scope"] == "tickets:read"


AGENT = {"name": "Audrey", "tier": 1, "skills": {"billing": 2}, "channels": {"chat": 1}}


async def test_agent_changes_name_their_key_and_show_before_and_after(stack: Stack) -> None:
    admin = await new_key(stack, "agents:admin", name="roster-admin")
    lead = await new_key(stack, "agents:write", name="team-lead")
    reader = await new_key(stack, "agents:read", name="agent-auditor")
    router = stack.url("router")
    agent_id = f"aud-{uuid.uuid4().hex[:8]}"
    path = f"{router}/v1/agents/{agent_id}"
    async with stack.client(key=admin["key"]) as as_admin, \
            stack.client(key=lead["key"]) as as_lead, \
            stack.client(key=reader["key"]) as as_reader:
        assert (await as_admin.put(path, json=AGENT)).status_code == 200
        assert (await as_lead.put(f"{path}/presence", json={"presence": "away"})) \
            .status_code == 200
        changed = {**AGENT, "tier": 2, "skills": {"billing": 4, "refunds": 1},
                   "presence": "away"}
        assert (await as_admin.put(path, json=changed)).status_code == 200
        assert (await as_admin.put(path, json=changed)).status_code == 200  # no change
        # A platform pushes presence onto the agents topic: router acts on an event.
        env = Envelope.wrap(AgentPresenceChanged(
            agent_id=agent_id, presence="available", previous="away",
            changed_at=datetime.now(UTC)), source="/telephony", time=datetime.now(UTC))
        await produce(stack.bootstrap, stack.topics.agents,
                      [(env.key, env.body(), env.headers())])

        async def four() -> list[dict[str, Any]] | None:
            items = (await audit_of(as_reader, f"{path}/audit"))["items"]
            return items if len(items) >= 4 else None

        await eventually(four, what="the presence event's entry")
        # Refused: a bad body, a key without agents:admin, an unknown agent's presence.
        refused = [await as_admin.put(path, json={**AGENT, "tier": 9}),
                   await as_lead.put(path, json={**AGENT, "tier": 3}),
                   await as_lead.put(f"{router}/v1/agents/nobody-{agent_id}/presence",
                                     json={"presence": "away"})]
        assert [r.status_code for r in refused] == [422, 403, 404]

        page = await audit_of(as_reader, f"{path}/audit")
        assert summary(page["items"]) == [
            ("roster-admin", "created", {
                "name": {"before": None, "after": "Audrey"},
                "tier": {"before": None, "after": 1},
                "skills": {"before": None, "after": {"billing": 2}},
                "channels": {"before": None, "after": {"chat": 1}},
                "max_total": {"before": None, "after": 1},
                "presence": {"before": None, "after": "available"},
                "languages": {"before": None, "after": ["en"]},
                "timezone": {"before": None, "after": "UTC"}}),
            ("team-lead", "presence_changed", {
                "presence": {"before": "available", "after": "away"}}),
            ("roster-admin", "updated", {
                "tier": {"before": 1, "after": 2},
                "skills.billing": {"before": 2, "after": 4},
                "skills.refunds": {"before": None, "after": 1}}),
            ("system:router", "presence_changed", {
                "presence": {"before": "away", "after": "available"}}),
        ]
        assert [e["actor"]["key_id"] for e in page["items"]] == [
            admin["id"], lead["id"], admin["id"], None]
        assert page["total"] == 4

        imported = await as_admin.post(f"{router}/v1/agents/import", json={"agents": [
            {**AGENT, "id": f"{agent_id}-b"}]})
        assert imported.status_code == 200
        assert summary((await audit_of(as_reader, f"{path}-b/audit"))["items"])[0][:2] == (
            "roster-admin", "created")

        missing = await as_reader.get(f"{router}/v1/agents/nobody-{agent_id}/audit")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    async with stack.client(key=(await new_key(stack, "tickets:read", name="x"))["key"]) as other:
        forbidden = await other.get(f"{path}/audit")
        assert forbidden.status_code == 403 and forbidden.json()["scope"] == "agents:read"


async def test_answers_to_offers_are_on_the_agents_audit(stack: Stack) -> None:
    lead = await new_key(stack, "agents:write", name="team-lead")
    intake, router = stack.url("intake"), stack.url("router")
    async with stack.client() as admin, stack.client(key=lead["key"]) as as_lead:
        async def offered(tid: str) -> dict[str, Any] | None:
            r = await admin.get(f"{router}/v1/assignments/{tid}")
            return r.json() if r.status_code == 200 and r.json()["status"] == "offered" \
                else None

        tids = []
        for _ in range(2):
            r = await admin.post(f"{intake}/v1/tickets", json=ticket())
            assert r.status_code == 201, r.text
            tids.append(r.json()["id"])
        first = await eventually(lambda: offered(tids[0]), what="first offer")
        second = await eventually(lambda: offered(tids[1]), what="second offer")
        before = {a: (await audit_of(admin, f"{router}/v1/agents/{a}/audit"))["total"]
                  for a in {first["agent_id"], second["agent_id"], "agent-0", "agent-1"}}
        # A refused answer (not this agent's offer) writes nothing.
        someone_else = next(a for a in before if a != first["agent_id"])
        wrong = await as_lead.post(f"{router}/v1/assignments/{tids[0]}/accept",
                                   json={"agent_id": someone_else})
        assert wrong.status_code == 409
        assert (await audit_of(admin, f"{router}/v1/agents/{someone_else}/audit"))["total"] \
            == before[someone_else]

        assert (await as_lead.post(f"{router}/v1/assignments/{tids[0]}/accept",
                                   json={"agent_id": first["agent_id"]})).status_code == 200
        assert (await as_lead.post(f"{router}/v1/assignments/{tids[1]}/decline",
                                   json={"agent_id": second["agent_id"],
                                         "reason": "busy"})).status_code == 200
        accepted = (await audit_of(admin, f"{router}/v1/agents/{first['agent_id']}/audit"))
        declined = (await audit_of(admin, f"{router}/v1/agents/{second['agent_id']}/audit"))
    assert ("team-lead", "offer_accepted", {
        f"offers.{tids[0]}": {"before": "offered", "after": "accepted"}}) in \
        summary(accepted["items"])
    assert ("team-lead", "offer_declined", {
        f"offers.{tids[1]}": {"before": "offered", "after": "declined"}}) in \
        summary(declined["items"])
