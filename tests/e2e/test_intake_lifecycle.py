"""Intake's ITIL workflow through the running services on the real broker and database."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, ticket
from tests.helpers import eventually, header, read_topic

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


async def post(client: httpx.AsyncClient, stack: Stack, body: dict[str, Any],
               **headers: str) -> httpx.Response:
    return await client.post(f"{stack.url('intake')}/v1/tickets", json=body, headers=headers)


async def event(client: httpx.AsyncClient, stack: Stack, ticket_id: str, body: dict[str, Any],
                **headers: str) -> httpx.Response:
    return await client.post(f"{stack.url('intake')}/v1/tickets/{ticket_id}/events", json=body,
                             headers=headers)


def by_field(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for reason in body["reasons"]:
        out.setdefault(reason["field"], []).append(reason)
    return out


async def test_full_context_is_logged_and_priority_inferred_with_reasons(stack: Stack) -> None:
    body = ticket(
        title="Payroll system down", impact=None, urgency=None,
        description="Payroll is down for the whole company, no workaround",
        requester={"id": "u-7", "name": "Kim", "email": "kim@example.com", "vip": True,
                   "plan": "enterprise"},
        affected={"scope": "organization", "count": 1200, "description": "everyone"},
        service={"name": "Payroll", "configuration_item": "payroll-db-01",
                 "business_critical": True},
        started_at="2026-11-24T07:30:00Z", tried="Restarted the client",
        attachments=[{"name": "error.png", "ref": "https://files.example.com/1"}],
        external_system="servicenow", external_id="INC0012345")
    async with stack.client() as client:
        r = await post(client, stack, body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["impact"], out["urgency"], out["priority"]) == ("high", "high", "P1")
    assert out["type"] == "incident"
    reasons = by_field(out)
    assert reasons["impact"][0]["reason"] == \
        "affects organization; 1200 users affected (at least 100)"
    assert "down" in reasons["urgency"][0]["reason"]
    assert reasons["priority"][-1]["reason"] == "matrix[impact=high][urgency=high]"
    ctx = out["context"]
    assert ctx["service"]["configuration_item"] == "payroll-db-01"
    assert ctx["affected"]["count"] == 1200 and ctx["tried"] == "Restarted the client"
    assert ctx["attachments"][0]["ref"] == "https://files.example.com/1"
    assert (out["external_system"], out["external_id"]) == ("servicenow", "INC0012345")
    assert out["requester"]["vip"] is True


async def test_priority_override_is_recorded_with_who(stack: Stack) -> None:
    async with stack.client() as client:
        r = await post(client, stack, ticket(
            impact="low", urgency="low",
            priority_override={"priority": "P2", "by": "duty-manager", "reason": "board demo"}))
    out = r.json()
    assert out["priority"] == "P2"
    override = by_field(out)["priority"][-1]
    assert override["source"] == "override"
    assert override["reason"] == "overridden by duty-manager (matrix gave P5): board demo"


async def test_incidents_and_requests_travel_on_separate_topics(stack: Stack) -> None:
    async with stack.client() as client:
        incident = (await post(client, stack, ticket(title="Outlook crashes on start",
                                                     description="It closes at once")))
        request = (await post(client, stack, ticket(
            title="Please install Visio", description="I would like Visio on my laptop",
            impact=None, urgency=None)))
    inc, req = incident.json(), request.json()
    assert (inc["type"], req["type"]) == ("incident", "service_request")
    incidents = await read_topic(stack.bootstrap, stack.topics.incidents, lambda recs: any(
        header(r, "ce_subject") == inc["id"] for r in recs))
    requests = await read_topic(stack.bootstrap, stack.topics.requests, lambda recs: any(
        header(r, "ce_subject") == req["id"] for r in recs))
    assert not any(header(r, "ce_subject") == req["id"] for r in incidents)
    assert not any(header(r, "ce_subject") == inc["id"] for r in requests)
    await eventually(lambda: _assigned(stack, req["id"]), what="the request assigned too")


async def _assigned(stack: Stack, ticket_id: str) -> dict[str, Any] | None:
    async with stack.client() as client:
        r = await client.get(f"{stack.url('router')}/v1/assignments/{ticket_id}")
    return r.json() if r.status_code == 200 else None


async def test_low_confidence_goes_to_triage_not_a_guess(stack: Stack) -> None:
    async with stack.client() as client:
        r = await post(client, stack, ticket(title="Help", description="Please call me back"))
        out = r.json()
        assert out["needs_triage"] is True
        assert by_field(out)["triage"][0]["value"] == "true"

        async def queued() -> bool:
            a = await client.get(f"{stack.url('router')}/v1/assignments/{out['id']}")
            return a.status_code == 404 and a.json()["state"] == "queued"

        await eventually(queued, what="triage ticket waits: no agent has the triage skill")
        put = await client.put(f"{stack.url('router')}/v1/agents/triage-desk", json={
            "name": "Triage Desk", "tier": 1, "skills": {"triage": 4},
            "channels": {"portal": 5}})
        assert put.status_code == 200
    assigned = await eventually(lambda: _assigned(stack, out["id"]), what="triage assignment")
    assert assigned["agent_id"] == "triage-desk"


async def test_lifecycle_from_new_to_closed_with_a_reopen(stack: Stack) -> None:
    async with stack.client() as client:
        tid = (await post(client, stack, ticket())).json()["id"]
        await eventually(lambda: _assigned(stack, tid), what="assignment")

        refused = await event(client, stack, tid, {"type": "status_change", "status": "closed"})
        assert refused.status_code == 409
        assert refused.json()["allowed"] == ["acknowledged", "in_progress",
                                             "pending_customer", "resolved"]
        steps = ["acknowledged", "in_progress", "pending_customer", "in_progress"]
        for status in steps:
            r = await event(client, stack, tid, {"type": "status_change", "status": status,
                                                 "actor": "agent-0"})
            assert r.status_code == 200, r.text
            assert r.json()["ticket"]["status"] == status
        early = await event(client, stack, tid, {"type": "csat", "score": 5})
        assert early.status_code == 409
        no_notes = await event(client, stack, tid, {"type": "status_change",
                                                    "status": "resolved"})
        assert no_notes.status_code == 422
        assert no_notes.json()["detail"][0]["field"] == "body.resolution_notes"
        resolve = {"type": "status_change", "status": "resolved", "actor": "agent-0",
                   "resolution_notes": "Reinstalled the VPN profile"}
        resolved = await event(client, stack, tid, resolve)
        assert resolved.json()["ticket"]["resolved_at"] is not None

        async def released() -> bool:
            return await stack.scalar("SELECT status FROM router.assignments "
                                      "WHERE ticket_id = :t", t=uuid.UUID(tid)) == "released"

        await eventually(released, what="the agent's capacity released on resolution")
        reopened = await event(client, stack, tid, {"type": "customer_reply", "fixed": False,
                                                    "text": "Dropped again"})
        assert reopened.json()["ticket"]["status"] == "reopened"
        assert reopened.json()["ticket"]["reopen_count"] == 1
        await event(client, stack, tid, resolve)
        closed = await event(client, stack, tid, {"type": "customer_reply", "fixed": True})
        assert closed.json()["ticket"]["status"] == "closed"
        assert closed.json()["ticket"]["closed_by"] == "customer_confirmation"
        final = await event(client, stack, tid, {"type": "status_change",
                                                 "status": "in_progress"})
        assert final.status_code == 409 and final.json()["allowed"] == []
        csat = await event(client, stack, tid, {"type": "csat", "score": 4})
        nps = await event(client, stack, tid, {"type": "nps", "score": 9})
        assert csat.json()["ticket"]["csat"] == 4 and nps.json()["ticket"]["nps"] == 9
        comment = await event(client, stack, tid, {"type": "comment", "author": "agent-0",
                                                   "text": "Closing notes", "public": False})
        assert comment.status_code == 200
        history = (await client.get(f"{stack.url('intake')}/v1/tickets/{tid}/history")).json()
        assert [h["kind"] for h in history] == [
            "created", *["status_changed"] * 8, "csat_answered", "nps_answered", "commented"]
        assert history[-5]["detail"] == {"from": "reopened", "to": "resolved", "auto": False,
                                         "resolution_notes": "Reinstalled the VPN profile"}

    types = [header(r, "ce_type") for r in await read_topic(
        stack.bootstrap, stack.topics.incidents,
        lambda recs: sum(header(r, "ce_subject") == tid for r in recs) >= 14)
        if header(r, "ce_subject") == tid]
    assert types.count("tierline.ticket.status_changed.v1") == 8
    assert types.count("tierline.ticket.survey_requested.v1") == 2
    assert types[0] == "tierline.ticket.created.v1"

    async def sla_stopped() -> bool:
        async with stack.client() as client:
            clocks = (await client.get(f"{stack.url('sla')}/v1/sla/{tid}")).json()["clocks"]
        states = {c["clock"]: c["status"] for c in clocks}
        return states == {"first_response": "met", "resolution": "met", "update": "met"}

    await eventually(sla_stopped, what="SLA clocks stopped as met")

    async def metrics_facts() -> bool:
        async with stack.engine.connect() as conn:
            from sqlalchemy import text

            row = (await conn.execute(text(
                "SELECT status, closed_by, reopen_count, csat, nps, resolved_at IS NOT NULL "
                "FROM metrics.ticket_facts WHERE ticket_id = :t"), {"t": uuid.UUID(tid)})).first()
        return row is not None and tuple(row) == ("closed", "customer_confirmation", 1, 4, 9,
                                                  True)

    await eventually(metrics_facts, what="metrics folded the lifecycle into its read model")


async def test_lifecycle_posts_are_idempotent(stack: Stack) -> None:
    async with stack.client() as client:
        tid = (await post(client, stack, ticket())).json()["id"]
        key = {"Idempotency-Key": f"ack-{tid}"}
        body = {"type": "status_change", "status": "acknowledged", "actor": "agent-1"}
        first = await event(client, stack, tid, body, **key)
        again = await event(client, stack, tid, body, **key)
        other = await event(client, stack, tid, {**body, "actor": "agent-2"}, **key)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert other.status_code == 422
        assert other.json()["error"] == "idempotency_key_reused"
        history = (await client.get(f"{stack.url('intake')}/v1/tickets/{tid}/history")).json()
        assert [h["kind"] for h in history] == ["created", "status_changed"]


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "teleport"}, "body"),
    ({"type": "csat", "score": 6}, "body.csat.score"),
    ({"type": "nps", "score": -1}, "body.nps.score"),
    ({"type": "status_change", "status": "done"}, "body.status_change.status"),
    ({"type": "comment", "author": "a"}, "body.comment.text"),
    ({"type": "customer_reply"}, "body.customer_reply"),
])
async def test_bad_events_name_the_field(stack: Stack, body: dict[str, Any], field: str) -> None:
    async with stack.client() as client:
        tid = (await post(client, stack, ticket())).json()["id"]
        r = await event(client, stack, tid, body)
    assert r.status_code == 422, r.text
    assert field in [p["field"] for p in r.json()["detail"]]


async def test_events_for_an_unknown_ticket_are_404(stack: Stack) -> None:
    async with stack.client() as client:
        r = await event(client, stack, str(uuid.uuid4()), {"type": "comment", "author": "a",
                                                          "text": "hi"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_resolved_tickets_close_automatically_without_a_reply(own_stack: Stack) -> None:
    stack = own_stack
    stack.procs.env.update({"TIERLINE_AUTOCLOSE_AFTER_HOURS": "0.0003",
                            "TIERLINE_AUTOCLOSE_CHECK_INTERVAL_S": "0.2"})
    stack.start("intake")
    async with own_stack.client() as client:
        tid = (await post(client, stack, ticket())).json()["id"]
        r = await event(client, stack, tid, {"type": "status_change", "status": "resolved",
                                             "resolution_notes": "fixed"})
        assert r.status_code == 200

        async def closed() -> dict[str, Any] | None:
            t = (await client.get(f"{stack.url('intake')}/v1/tickets/{tid}")).json()
            return t if t["status"] == "closed" else None

        done = await eventually(closed, what="auto-close")
        assert done["closed_by"] == "auto_close"
        history = (await client.get(f"{stack.url('intake')}/v1/tickets/{tid}/history")).json()
        assert history[-1]["actor"] == "tierline" and history[-1]["detail"]["auto"] is True


async def test_waiting_on_the_customer_pauses_the_resolution_clock(stack: Stack) -> None:
    import asyncio
    from datetime import datetime

    async with stack.client() as client:
        tid = (await post(client, stack, ticket())).json()["id"]  # P2: 24x7

        async def clocks() -> dict[str, Any] | None:
            r = await client.get(f"{stack.url('sla')}/v1/sla/{tid}")
            return {c["clock"]: c for c in r.json()["clocks"]} if r.status_code == 200 else None

        first = await eventually(clocks, what="clocks started")
        due_before = datetime.fromisoformat(first["resolution"]["due_at"])
        await event(client, stack, tid, {"type": "status_change", "status": "pending_customer"})

        async def paused() -> dict[str, Any] | None:
            got = await clocks()
            return got if got and got["resolution"]["status"] == "paused" else None

        held = await eventually(paused, what="resolution clock paused")
        assert held["resolution"]["due_at"] is None
        assert held["first_response"]["status"] == "met"  # the update did not reset it
        await asyncio.sleep(0.3)  # some paused time; the check below does not depend on it
        await event(client, stack, tid, {"type": "status_change", "status": "in_progress"})

        async def resumed() -> dict[str, Any] | None:
            got = await clocks()
            return got if got and got["resolution"]["status"] == "running" else None

        running = await eventually(resumed, what="resolution clock resumed")
        kind = (await client.get(f"{stack.url('intake')}/v1/tickets/{tid}")).json()["type"]

    def moves_of(records: list[Any]) -> dict[str, datetime]:
        bodies = [json.loads(r.value) for r in records if r.key == tid.encode()
                  and header(r, "ce_type") == "tierline.ticket.status_changed.v1"]
        return {b["to_status"]: datetime.fromisoformat(b["changed_at"]) for b in bodies}

    records = await read_topic(stack.bootstrap, stack.topics.for_type(kind), until=lambda rs:
                               {"pending_customer", "in_progress"} <= set(moves_of(rs)))
    moves = moves_of(records)
    paused_for = moves["in_progress"] - moves["pending_customer"]
    shift = datetime.fromisoformat(running["resolution"]["due_at"]) - due_before
    # A 24x7 clock: the due time moved by exactly the time spent waiting on the customer,
    # between the two changes' timestamps (intake's clock, carried by the events).
    assert paused_for.total_seconds() > 0
    assert shift == paused_for
    details = [h["detail"] for h in await _sla_history(stack, tid)]
    assert {"from": "new", "to": "pending_customer", "first_response": "met",
            "resolution": "paused", "update": "paused"} in details
    assert {"from": "pending_customer", "to": "in_progress", "resolution": "running",
            "update": "running"} in details


async def _sla_history(stack: Stack, tid: str) -> list[dict[str, Any]]:
    async with stack.client() as client:
        return (await client.get(f"{stack.url('sla')}/v1/sla/{tid}")).json()["history"]


async def test_priority_change_is_recorded_and_retargets_the_sla(stack: Stack) -> None:
    from datetime import datetime, timedelta

    async with stack.client() as client:
        created = (await post(client, stack, ticket())).json()  # P2: resolution in 480 min
        tid = created["id"]

        async def due(priority: str) -> datetime | None:
            r = await client.get(f"{stack.url('sla')}/v1/sla/{tid}")
            if r.status_code != 200:
                return None
            clock = {c["clock"]: c for c in r.json()["clocks"]}["resolution"]
            return datetime.fromisoformat(clock["due_at"]) if clock["priority"] == priority \
                else None

        before = await eventually(lambda: due("P2"), what="P2 clock")
        r = await event(client, stack, tid, {"type": "priority_change", "priority": "P1",
                                             "by": "duty-manager", "reason": "trading floor"})
        assert r.status_code == 200, r.text
        assert r.json()["ticket"]["priority"] == "P1"
        assert r.json()["ticket"]["reasons"][-1] == {
            "field": "priority", "value": "P1", "source": "override",
            "reason": "changed by duty-manager from P2: trading floor", "confidence": None}
        same = await event(client, stack, tid, {"type": "priority_change", "priority": "P1",
                                                "by": "x"})
        assert same.status_code == 422 and same.json()["detail"][0]["field"] == "body.priority"
        after = await eventually(lambda: due("P1"), what="clock re-targeted to P1")

        async def router_knows() -> bool:
            a = await client.get(f"{stack.url('router')}/v1/assignments/{tid}")
            return a.status_code == 200 and a.json()["priority"] == "P1"

        await eventually(router_knows, what="router's assignment re-prioritized")
    # Same start, 240 instead of 480 minutes: the accrued time is kept.
    assert before - after == timedelta(minutes=240)
