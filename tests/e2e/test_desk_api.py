"""Router's console endpoints through the running services: keys bound to an agent (403 for
another agent's offer or presence), an agent's offers and their live feed (SSE), and a
supervisor's force-assign with its reason in the history and the capacity override."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import Databases
from tests.e2e.conftest import Stack, ticket
from tests.helpers import eventually
from tierline_shared.embedded import EmbeddedKafka

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

ROSTER = {"ana": {"name": "Ana", "tier": 1, "skills": {"network": 3}, "channels": {"portal": 2}},
          "ben": {"name": "Ben", "tier": 1, "skills": {"network": 3}, "channels": {"portal": 2}},
          # no network skill: routing never picks Cy, only a supervisor does
          "cy": {"name": "Cy", "tier": 1, "skills": {"printing": 3}, "channels": {"portal": 1}}}


@pytest.fixture(scope="module")
async def desk(databases: Databases, kafka: EmbeddedKafka,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    s = Stack(databases, kafka.bootstrap_servers, tmp_path_factory.mktemp("desk"))
    try:
        s.start("intake", "router")
        await s.put_roster(ROSTER)
        yield s
    finally:
        await s.stop()


async def agent_key(stack: Stack, agent_id: str, *scopes: str) -> str:
    async with stack.client("router") as admin:
        r = await admin.post("/v1/keys", json={
            "name": agent_id, "scopes": list(scopes or ("agents:write",)), "agent_id": agent_id})
    assert r.status_code == 201 and r.json()["agent_id"] == agent_id, r.text
    return str(r.json()["key"])


async def new_ticket(stack: Stack) -> str:
    async with stack.client("intake") as client:
        r = await client.post("/v1/tickets", json=ticket())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def holder(stack: Stack, tid: str, status: str = "offered") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        async with stack.client("router") as client:
            r = await client.get(f"/v1/assignments/{tid}")
        return r.json() if r.status_code == 200 and r.json()["status"] == status else None

    return await eventually(check, timeout=20, what=f"ticket {tid} {status}")


async def test_a_key_bound_to_an_agent_acts_for_that_agent_only(desk: Stack) -> None:
    keys = {a: await agent_key(desk, a) for a in ("ana", "ben")}
    tid = await new_ticket(desk)
    mine = (await holder(desk, tid))["agent_id"]
    other = "ben" if mine == "ana" else "ana"
    async with desk.client("router", key=keys[other]) as theirs, \
            desk.client("router", key=keys[mine]) as own:
        for verb in ("accept", "decline"):
            r = await theirs.post(f"/v1/assignments/{tid}/{verb}", json={"agent_id": mine})
            assert r.status_code == 403 and r.json() == {
                "error": "forbidden", "agent_id": mine,
                "detail": f"this key acts only for agent {other}"}, r.text
        r = await theirs.post(f"/v1/assignments/{tid}/accept", json={"agent_id": other})
        assert r.status_code == 409 and r.json()["error"] == "no_open_offer"
        assert (await theirs.get(f"/v1/agents/{mine}/offers")).status_code == 403
        r = await theirs.put(f"/v1/agents/{mine}/presence", json={"presence": "away"})
        assert r.status_code == 403 and r.json()["agent_id"] == mine

        work = (await own.get(f"/v1/agents/{mine}/offers")).json()
        offer = next(o for o in work["offers"] if o["ticket_id"] == tid)
        assert work["presence"] == "available" and offer["reasons"]["chosen"] == mine
        assert offer["offer_expires_at"] and "sla_due_at" in offer
        r = await own.post(f"/v1/assignments/{tid}/accept", json={"agent_id": mine})
        assert r.status_code == 200 and r.json()["outcome"] == "accepted"
        work = (await own.get(f"/v1/agents/{mine}/offers")).json()
        assert tid in {h["ticket_id"] for h in work["holding"]}
        assert tid not in {o["ticket_id"] for o in work["offers"]}
        r = await own.put(f"/v1/agents/{mine}/presence", json={"presence": "available"})
        assert r.status_code == 200
        assert (await own.get("/v1/agents/nobody/offers")).status_code == 403
    assert (await holder(desk, tid, "accepted"))["agent_id"] == mine
    async with desk.client("router") as admin:
        assert (await admin.get("/v1/agents/nobody/offers")).status_code == 404
        bad = await admin.post("/v1/keys", json={"name": "x", "scopes": ["agents:write"],
                                                 "agent_id": "no spaces"})
        assert bad.status_code == 422 and "agent_id" in bad.json()["detail"][0]["field"]
        made = (await admin.get("/v1/keys", params={"limit": 500})).json()["items"]
        bound = next(k for k in made if keys[mine].startswith(f"tl_{k['id']}_"))
        rotated = await admin.post(f"/v1/keys/{bound['id']}/rotate", json={})
        assert rotated.status_code == 201 and rotated.json()["agent_id"] == mine


def test_tierline_keys_create_binds_a_key_to_an_agent(desk: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env["TIERLINE_DATABASE_URL"] = desk.database_url

    def create(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tierline_shared.cli", "keys", "create",
                               "--scopes", "agents:write,agents:read", "--name", "cy", *args],
                              env=env, capture_output=True, text=True, timeout=60)

    out = create("--agent", "cy")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    with httpx.Client(base_url=desk.url("router"), headers={"X-API-Key": key}) as client:
        assert client.get("/v1/agents/cy/offers").status_code == 200
        me = client.get("/v1/keys/me").json()
        assert (me["name"], me["agent_id"], me["scopes"]) == (
            "cy", "cy", ["agents:read", "agents:write"]) and key.startswith(f"tl_{me['id']}_")
        assert client.get("/v1/keys").status_code == 403  # seeing itself is not admin
        assert client.get("/v1/keys/me", headers={"X-API-Key": ""}).status_code == 401
        assert client.get("/v1/agents/ana/offers").status_code == 403
        r = client.put("/v1/agents/ana/presence", json={"presence": "offline"})
        assert r.status_code == 403
    bad = create("--agent", "two words")
    assert bad.returncode == 2 and "agent id" in bad.stderr


class Feed:
    """An agent's live offer feed, read in the background."""

    def __init__(self, stack: Stack, agent_id: str, key: str) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self._client = stack.client("router", key=key, timeout=None)
        self._task = asyncio.create_task(self._read(agent_id))

    async def _read(self, agent_id: str) -> None:
        async with self._client.stream("GET", f"/v1/agents/{agent_id}/offers/stream") as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event:
                    self.events.append((time.monotonic(), event,
                                        json.loads(line.removeprefix("data: "))))

    async def seen(self, event: str, tid: str) -> float:
        async def check() -> float | None:
            return next((at for at, e, d in self.events
                         if e == event and d["ticket_id"] == tid), None)

        return await eventually(check, timeout=20, interval=0.05, what=f"{event} {tid}")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._client.aclose()


async def test_offers_reach_the_live_feed_and_a_supervisor_force_assigns(desk: Stack) -> None:
    keys = {a: await agent_key(desk, a, "agents:write", "agents:read")
            for a in ("ana", "ben")}
    feeds = {a: Feed(desk, a, k) for a, k in keys.items()}
    try:
        await asyncio.sleep(0.5)  # both feeds connected
        posted = time.monotonic()
        tid = await new_ticket(desk)
        first = (await holder(desk, tid))["agent_id"]
        second = "ben" if first == "ana" else "ana"
        arrived = await feeds[first].seen("offered", tid)
        assert arrived - posted < 5, "the offer reached the feed late"
        async with desk.client("router", key=keys[first]) as own:
            r = await own.post(f"/v1/assignments/{tid}/decline",
                               json={"agent_id": first, "reason": "not mine"})
            assert r.status_code == 200, r.text
        await feeds[first].seen("withdrawn", tid)
        await feeds[second].seen("offered", tid)

        async with desk.client("router", key=keys[first]) as agent:
            r = await agent.post(f"/v1/assignments/{tid}/assign",
                                 json={"agent_id": first, "reason": "mine after all"})
            assert r.status_code == 403 and r.json()["scope"] == "agents:admin"
        async with desk.client("router") as admin:
            r = await admin.post(f"/v1/assignments/{tid}/assign",
                                 json={"agent_id": first, "reason": "customer asked for them"})
            assert r.status_code == 200, r.text
            assert r.json() == {"ticket_id": tid, "agent_id": first, "status": "accepted",
                                "previous_agent_id": second, "reason": "customer asked for them",
                                "capacity_overridden": None}
            await feeds[second].seen("withdrawn", tid)
            now = (await admin.get(f"/v1/assignments/{tid}")).json()
            assert (now["agent_id"], now["status"]) == (first, "accepted")
            assert now["reasons"]["forced"]["reason"] == "customer asked for them"
            steps = (await admin.get(f"/v1/assignments/{tid}/history")).json()["items"]
            forced = [s for s in steps if s["action"] == "force_assigned"]
            assert len(forced) == 1 and forced[0]["agent_id"] == first
            assert forced[0]["detail"]["reason"] == "customer asked for them"
            assert forced[0]["detail"]["by"] == "bootstrap"
            assert [s["action"] for s in steps].count("withdrawn") == 1
            trail = (await admin.get(f"/v1/agents/{first}/audit")).json()["items"]
            assert any(e["action"] == "force_assigned" for e in trail)
            again = await admin.post(f"/v1/assignments/{tid}/assign",
                                     json={"agent_id": first, "reason": "twice"})
            assert again.status_code == 409 and again.json()["error"] == "already_assigned"

            # Cy takes one portal ticket; a second only with the override, which is recorded
            one, two = await new_ticket(desk), await new_ticket(desk)
            await holder(desk, one)
            await holder(desk, two)
            r = await admin.post(f"/v1/assignments/{one}/assign",
                                 json={"agent_id": "cy", "reason": "printer expert"})
            assert r.status_code == 200 and r.json()["capacity_overridden"] is None
            body = {"agent_id": "cy", "reason": "the same printer"}
            refused = await admin.post(f"/v1/assignments/{two}/assign", json=body)
            assert refused.status_code == 409 and refused.json()["error"] == "over_capacity"
            assert "portal capacity (1)" in refused.json()["detail"]
            assert (await admin.get(f"/v1/assignments/{two}")).json()["agent_id"] != "cy"
            r = await admin.post(f"/v1/assignments/{two}/assign",
                                 json={**body, "override_capacity": True})
            assert r.status_code == 200
            assert r.json()["capacity_overridden"] == "cy is at their portal capacity (1)"
            steps = (await admin.get(f"/v1/assignments/{two}/history")).json()["items"]
            assert next(s for s in steps if s["action"] == "force_assigned")["detail"][
                "capacity_overridden"] == "cy is at their portal capacity (1)"
            cy = (await admin.get("/v1/agents/cy")).json()
            assert cy["active_total"] == 2

            for path, payload, status in (
                    ("00000000-0000-0000-0000-000000000000", body, 404),
                    (two, {"agent_id": "nobody", "reason": "x"}, 404),
                    (two, {"agent_id": "ana"}, 422)):
                r = await admin.post(f"/v1/assignments/{path}/assign", json=payload)
                assert r.status_code == status, r.text
    finally:
        for feed in feeds.values():
            await feed.close()


async def test_tickets_are_found_by_filters_and_paged_by_cursor(desk: Stack) -> None:
    who = f"u-{uuid.uuid4().hex[:8]}"
    made = []
    async with desk.client("intake") as client:
        for urgency in ("high", "low", "high", "low", "high"):
            r = await client.post("/v1/tickets", json=ticket(
                urgency=urgency, requester={"id": who, "name": "Sam"}))
            assert r.status_code == 201, r.text
            made.append(r.json())
        newest_first = [t["id"] for t in sorted(made, key=lambda t: (t["created_at"], t["id"]),
                                                reverse=True)]
        seen, cursor, pages = [], None, 0
        while True:
            params = {"requester": who, "limit": 2, **({"cursor": cursor} if cursor else {})}
            r = await client.get("/v1/tickets", params=params)
            assert r.status_code == 200, r.text
            seen += [t["id"] for t in r.json()["items"]]
            pages += 1
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == newest_first and pages == 3
        one = made[0]
        r = await client.get("/v1/tickets", params={
            "requester": who, "priority": one["priority"], "status": ["new", "acknowledged"],
            "category": one["category"]})
        want = {t["id"] for t in made if t["priority"] == one["priority"]}
        assert {t["id"] for t in r.json()["items"]} == want and 0 < len(want) < 5
        item = next(t for t in r.json()["items"] if t["id"] == one["id"])
        assert (item["title"], item["requester_id"]) == (one["title"], who)
        assert "description" not in item and "email" not in str(item)
        r = await client.get("/v1/tickets", params={
            "requester": who, "created_from": one["created_at"],
            "created_to": made[-1]["created_at"]})
        assert [t["id"] for t in r.json()["items"]] == [t["id"] for t in reversed(made[:-1])]

        async def offered() -> list[Any] | None:
            agent = (await holder(desk, one["id"]))["agent_id"]
            r = await client.get("/v1/tickets", params={"requester": who,
                                                         "offered_agent": agent,
                                                         "routing_state": "offered"})
            return [t for t in r.json()["items"] if t["id"] == one["id"]] or None

        found = (await eventually(offered, timeout=20, what="intake knowing the agent"))[0]
        assert found["offered_agent"] in ROSTER and found["assigned_agent"] is None

        for params, field in (({"cursor": "nonsense"}, "query.cursor"),
                              ({"created_from": "2026-11-30T09:00:00"}, "query.created_from"),
                              ({"status": "lost"}, "query.status"),
                              ({"limit": 0}, "query.limit")):
            r = await client.get("/v1/tickets", params=params)
            assert r.status_code == 422, (params, r.text)
            assert r.json()["detail"][0]["field"].startswith(field), r.text
    async with desk.client("intake", key=await agent_key(desk, "ana")) as agent:
        r = await agent.get("/v1/tickets")
        assert r.status_code == 403 and r.json()["scope"] == "tickets:read"
