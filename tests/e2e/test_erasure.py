"""The right to erasure through the four running services: one requester's name, email and
phone leave every store of every service, another requester's stay, and the metrics
figures are the same before and after."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.e2e.conftest import Stack, ticket
from tests.e2e.test_auth import new_key
from tests.helpers import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

SCHEMAS = ("intake", "router", "sla", "metrics")
PHONE = "+44 20 7946 0958"


async def holders(stack: Stack, needle: str) -> list[str]:
    """Every schema.table.column (text, JSON or bytes) of the four services holding
    ``needle``, case-insensitively."""
    async with stack.engine.connect() as conn:
        columns = (await conn.execute(text(
            "SELECT table_schema, table_name, column_name, data_type "
            "FROM information_schema.columns WHERE table_schema = ANY(:schemas) AND "
            "data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')"),
            {"schemas": list(SCHEMAS)})).all()
        found = []
        for schema, table, column, kind in columns:
            value = (f"convert_from(\"{column}\", 'UTF8')" if kind == "bytea"
                     else f"\"{column}\"::text")
            hit = (await conn.execute(text(
                f"SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE {value} ILIKE :n"),
                {"n": f"%{needle}%"})).scalar()
            if hit:
                found.append(f"{schema}.{table}.{column}")
    return found


WINDOW = {"from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
          "to": (datetime.now(UTC) + timedelta(days=1)).isoformat()}


async def figures(client: httpx.AsyncClient, stack: Stack) -> dict[str, Any]:
    base = stack.url("metrics")
    window = WINDOW
    out: dict[str, Any] = {}
    for name, path, params in (("kpis", "/v1/reports/kpis", window),
                               ("by_category", "/v1/reports/kpis",
                                {**window, "group_by": "category"}),
                               ("targets", "/v1/reports/targets", window)):
        r = await client.get(base + path, params=params)
        assert r.status_code == 200, r.text
        out[name] = r.json()
    return out


async def _event(client: httpx.AsyncClient, stack: Stack, tid: str,
                 body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"{stack.url('intake')}/v1/tickets/{tid}/events", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_requester_is_erased_everywhere_and_the_figures_stay(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    ada = {"id": f"u-ada-{tag}", "name": "Zelda Quimby", "email": f"zelda.{tag}@example.com"}
    bob = {"id": f"u-bob-{tag}", "name": "Bruno Okafor", "email": f"bruno.{tag}@example.com"}
    phones = {ada["id"]: PHONE, bob["id"]: "+1 415 555 0134"}
    intake = stack.url("intake")
    async with stack.client() as client:
        r = await client.put(f"{intake}/v1/customers/{ada['id']}", json={
            "name": ada["name"], "email": ada["email"], "vip": False, "products": ["vpn"]})
        assert r.status_code == 200, r.text
        ids = []
        for n, who in enumerate((ada, ada, bob)):
            who = {**who, "phone": phones[who["id"]]}
            body = ticket(title=f"VPN drops for {who['name']}",
                          description=f"Reach me at {who['email']} or {who['phone']}. "
                                      "The VPN drops every few minutes.",
                          requester={k: v for k, v in who.items() if k != "phone"})
            r = await client.post(f"{intake}/v1/tickets", json=body,
                                  headers={"Idempotency-Key": f"erasure-{tag}-{n}"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        first = ids[0]
        resolve = {"type": "status_change", "status": "resolved", "actor": "agent-0",
                   "resolution_notes": f"Called {ada['name']} back, new VPN profile"}
        await _event(client, stack, first, resolve)
        await _event(client, stack, first, {"type": "customer_reply", "fixed": False,
                                            "text": f"Still broken, call {PHONE}"})
        await _event(client, stack, first, {"type": "comment", "author": "agent-0",
                                            "public": True,
                                            "text": f"Emailed {ada['email']} the steps"})
        await _event(client, stack, first, resolve)
        await _event(client, stack, first, {"type": "customer_reply", "fixed": True})
        await _event(client, stack, first, {"type": "csat", "score": 4,
                                            "comment": f"Thanks, {ada['name']} here"})
        await _event(client, stack, ids[2], {**resolve, "resolution_notes": "Fixed"})
        for body in ({"interaction_id": f"chat-{tag}", "kind": "contact_started",
                      "channel": "chat", "customer_id": ada["id"],
                      "customer_name": ada["name"], "about": "Printer jammed on floor 3"},
                     {"interaction_id": f"chat-{tag}", "kind": "message",
                      "author": "customer", "text": f"I am {ada['name']}, call {PHONE}"}):
            r = await client.post(f"{intake}/v1/interactions", json=body)
            assert r.status_code in (200, 201), r.text

        async def settled() -> bool:
            logged = await stack.scalar(
                "SELECT count(*) FROM metrics.ticket_log WHERE ticket_id = :t "
                "AND event_type = 'tierline.ticket.survey_answered.v1'", t=uuid.UUID(first))
            sla = await stack.scalar("SELECT count(*) FROM sla.tickets WHERE ticket_id = "
                                     "ANY(:ids)", ids=[uuid.UUID(i) for i in ids])
            bob_resolved = await stack.scalar(
                "SELECT count(*) FROM metrics.ticket_facts WHERE ticket_id = :t AND "
                "resolved_at IS NOT NULL", t=uuid.UUID(ids[2]))
            outbox = await stack.scalar("SELECT count(*) FROM intake.outbox")
            # intake records router's decisions as it reads them (its audit trail too)
            unheard = await stack.scalar("SELECT count(*) FROM intake.tickets WHERE id = "
                                         "ANY(:ids) AND routing_state IS NULL",
                                         ids=[uuid.UUID(i) for i in ids])
            return (logged == 1 and sla == 3 and bob_resolved == 1 and outbox == 0
                    and unheard == 0)

        await eventually(settled, timeout=30, what="every service saw the tickets")
        # Before: the person is spread over every service that keeps text.
        assert {"sla.tickets.title", "intake.tickets.requester",
                "metrics.ticket_log.body"} <= set(await holders(stack, ada["name"]))
        assert {"intake.tickets.requester", "intake.customers.email",
                "intake.idempotency_keys.response"} <= set(await holders(stack, ada["email"]))
        assert "metrics.ticket_log.body" in await holders(stack, "7946 0958")
        before = await figures(client, stack)
        assert before["kpis"]["csat"]["responses"] == 1 and before["kpis"]["fcr"]["issues"] >= 2

        # Only an admin key may erase; the body must name someone; unknown people are 404.
        erasures = f"{intake}/v1/privacy/erasures"
        writer = (await new_key(stack, "tickets:write", "customers:write"))["key"]
        r = await client.post(erasures, json={"requester_id": ada["id"]},
                              headers={"X-API-Key": writer})
        assert r.status_code == 403 and r.json()["scope"] == "admin"
        r = await client.post(erasures, json={"requester_id": ada["id"]},
                              headers={"X-API-Key": ""})
        assert r.status_code == 401
        r = await client.post(erasures, json={})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body"
        r = await client.post(erasures, json={"email": "not-an-email"})
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body.email"
        r = await client.post(erasures, json={"requester_id": f"nobody-{tag}"})
        assert r.status_code == 404 and r.json()["error"] == "requester_not_found"

        r = await client.post(erasures, json={"email": ada["email"].upper()})
        assert r.status_code == 202, r.text
        erasure = r.json()
        assert erasure["requested_by"] == "bootstrap"
        assert erasure["pseudonym"].startswith("erased-")
        assert erasure["tickets_announced"] == 2 and erasure["repeat_of"] is None
        counts = erasure["counts"]
        assert counts["tickets"] == 2 and counts["customers"] == 1
        assert counts["interactions"] == 1 and counts["ticket_history"] >= 3
        assert counts["idempotency_keys"] == 2 and counts["audit_log"] >= 2
        got = await client.get(f"{erasures}/{erasure['id']}")
        assert got.status_code == 200 and got.json() == erasure

        left: dict[str, list[str]] = {}

        async def gone() -> bool:
            for needle in (ada["email"], ada["name"], "Zelda", ada["id"], "7946 0958"):
                left[needle] = await holders(stack, needle)
            return not any(left.values())

        try:
            await eventually(gone, timeout=30, what="no store holds the erased requester")
        except AssertionError:
            raise AssertionError(f"still held: {left}") from None
        for needle in (bob["email"], "555 0134"):
            assert "intake.tickets.description" in await holders(stack, needle), needle
        assert "intake.tickets.requester" in await holders(stack, bob["email"])
        assert "sla.tickets.title" in await holders(stack, bob["name"])
        pseudonym = erasure["pseudonym"]
        assert await stack.scalar("SELECT count(*) FROM sla.tickets WHERE requester_id = :p",
                                  p=pseudonym) == 2
        assert await stack.scalar("SELECT count(*) FROM intake.tickets WHERE "
                                  "requester->>'id' = :p", p=pseudonym) == 2
        assert await stack.scalar("SELECT count(*) FROM intake.tickets WHERE "
                                  "requester->>'id' = :b", b=bob["id"]) == 1
        assert await stack.scalar("SELECT count(*) FROM metrics.ticket_log WHERE "
                                  "body->>'requester_id' = :p", p=pseudonym) == 2
        # Each service has applied it (the event went to every consumer).
        for schema in ("router", "sla", "metrics"):
            assert await stack.scalar(
                f"SELECT count(*) FROM {schema}.processed_events WHERE event_type = "
                "'tierline.ticket.requester_erased.v1'") >= 2, schema
        trail = (await client.get(f"{intake}/v1/tickets/{first}/audit")).json()["items"]
        assert trail[-1]["action"] == "requester_erased"
        assert trail[-1]["actor"]["name"] == "bootstrap"
        assert trail[-1]["changes"]["requester.id"] == {"before": "[redacted]",
                                                        "after": pseudonym}
        ticket_out = (await client.get(f"{intake}/v1/tickets/{first}")).json()
        assert ticket_out["requester"]["id"] == pseudonym
        assert ticket_out["status"] == "closed" and ticket_out["csat"] == 4
        assert await figures(client, stack) == before

        again = await client.post(erasures, json={"requester_id": ada["id"]})
        assert again.status_code == 200, again.text
        assert again.json()["repeat_of"] == erasure["id"]
        assert again.json()["pseudonym"] == pseudonym
        assert not any(again.json()["counts"].values())
        assert await figures(client, stack) == before
