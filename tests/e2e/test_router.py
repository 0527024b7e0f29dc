"""Router through the running services: offers answered, declined and timed out, work that
moves when an agent goes offline, queues on the API and on /metrics, and three router
replicas in one consumer group under load, one of them killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, counter, ticket
from tests.helpers import eventually, header, read_topic
from tierline_shared.bus.events import TicketAssigned
from tierline_shared.devstack import wait_ready
from tierline_shared.embedded import free_port

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

PAIR = {"ana": {"name": "Ana", "tier": 1, "skills": {"network": 3}, "channels": {"portal": 2}},
        "ben": {"name": "Ben", "tier": 1, "skills": {"network": 3}, "channels": {"portal": 2}}}


async def assignment(client: httpx.AsyncClient, stack: Stack, tid: str) -> dict[str, Any]:
    r = await client.get(f"{stack.url('router')}/v1/assignments/{tid}")
    return r.json() if r.status_code == 200 else {}


async def on_intake(client: httpx.AsyncClient, stack: Stack, tid: str,
                    shows: Callable[[dict[str, Any]], bool], what: str) -> None:
    """Intake's ticket comes to show router's outcome (its routing fields)."""
    async def check() -> bool:
        r = await client.get(f"{stack.url('intake')}/v1/tickets/{tid}")
        return r.status_code == 200 and shows(r.json())

    await eventually(check, what=f"intake showing {tid} {what}")


def holds(state: str, offered: str | None, assigned: str | None) -> Callable[
        [dict[str, Any]], bool]:
    want = {"routing_state": state, "offered_agent": offered, "assigned_agent": assigned}
    return lambda t: {k: t[k] for k in want} == want


async def test_offers_declines_time_outs_and_presence(own_stack: Stack) -> None:
    stack = own_stack
    stack.procs.env.update(TIERLINE_ROUTER_OFFER_TIMEOUT_S="3",
                           TIERLINE_ROUTER_JOB_INTERVAL_S="0.2")
    stack.start("intake", "router", "metrics")
    await stack.put_roster(PAIR)
    router = stack.url("router")
    async with own_stack.client() as client:
        async def new_ticket() -> str:
            r = await client.post(f"{stack.url('intake')}/v1/tickets", json=ticket())
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        first = await new_ticket()
        got = await eventually(lambda: assignment(client, stack, first), what="an offer")
        assert got["status"] == "offered" and got["offer_expires_at"]
        holder = got["agent_id"]
        other = "ben" if holder == "ana" else "ana"
        wrong = await client.post(f"{router}/v1/assignments/{first}/accept",
                                  json={"agent_id": other})
        assert wrong.status_code == 409 and wrong.json()["error"] == "no_open_offer"
        declined = await client.post(f"{router}/v1/assignments/{first}/decline",
                                      json={"agent_id": holder, "reason": "not my area"})
        assert declined.status_code == 200, declined.text
        moved = await assignment(client, stack, first)
        assert (moved["agent_id"], moved["attempt"]) == (other, 2)
        assert {"agent": holder, "lost": "declined this ticket"} in moved["reasons"][
            "alternatives"]
        assert moved["reasons"]["passed_over"]["declined"] == 1
        ok = await client.post(f"{router}/v1/assignments/{first}/accept",
                               json={"agent_id": other})
        assert ok.json()["outcome"] == "accepted"
        await on_intake(client, stack, first, holds("accepted", None, other), "accepted")

        # an offer nobody answers: after 3 s it moves on and its agent is set away
        second = await new_ticket()
        offered = await eventually(lambda: assignment(client, stack, second), what="offer 2")

        async def moved_on() -> dict | None:
            now = await assignment(client, stack, second)
            return now if now.get("attempt") == 2 else None

        after = await eventually(moved_on, timeout=20, what="the timed-out offer moving on")
        assert after["agent_id"] != offered["agent_id"]
        missed = (await client.get(f"{router}/v1/agents/{offered['agent_id']}")).json()
        assert missed["presence"] == "away"

        # going offline sends unaccepted work elsewhere; accepted work stays
        await client.put(f"{router}/v1/agents/{offered['agent_id']}/presence",
                         json={"presence": "available"})
        keeper = after["agent_id"]
        r = await client.put(f"{router}/v1/agents/{keeper}/presence", json={"presence": "offline"})
        assert r.status_code == 200
        rerouted = await eventually(
            lambda: _held_by(client, stack, second, offered["agent_id"]), what="re-route")
        assert rerouted["attempt"] == 3
        if keeper == other:
            assert (await assignment(client, stack, first))["agent_id"] == keeper

        # queues: fill both agents, the rest waits, visible on the API and /metrics
        for _ in range(5):
            await new_ticket()

        # the agent still available holds only the second ticket: one of five fits, four wait
        async def waiting() -> dict | None:
            items = (await client.get(f"{router}/v1/queues")).json()["items"]
            return items[0] if items and items[0]["depth"] == 4 else None

        q = await eventually(waiting, what="four tickets waiting")
        for waiting_ticket in (await client.get(f"{router}/v1/queues/default")).json()["items"]:
            await on_intake(client, stack, waiting_ticket["ticket_id"],
                            holds("queued", None, None), "queued")
        assert q["queue"] == "default" and q["oldest_age_s"] >= 0
        listed = (await client.get(f"{router}/v1/queues/default")).json()
        assert listed["total"] == q["depth"] and listed["items"][0]["priority"]

        async def gauge() -> float | None:
            text = (await client.get(f"{router}/metrics")).text
            # the gauges are refreshed by the router's job loop, so wait for it to catch up
            value = counter(text, "tierline_router_queue_depth", queue="default")
            return value if value == 4 else None

        assert await eventually(gauge, what="queue depth 4 on /metrics") == 4
        history = (await client.get(f"{router}/v1/assignments/{second}/history")).json()
        actions = [h["action"] for h in history["items"]]
        assert actions[:3] == ["offered", "timed_out", "offered"]
        assert "agent_unavailable" in actions

        # intake learnt it: the agent who missed the offer is no longer named on the ticket
        async def intake_learnt() -> list[dict[str, Any]] | None:
            r = await client.get(f"{stack.url('intake')}/v1/tickets/{second}/audit")
            items = [e for e in r.json()["items"] if e["actor"]["name"] == "system:intake"]
            return items if [e["action"] for e in items][:3] == [
                "offered", "offer_timed_out", "offered"] else None

        offers = await eventually(intake_learnt, what="intake learning of the time-out")
        assert offers[1]["changes"]["offered_agent"] == {"before": offered["agent_id"],
                                                         "after": None}
        assert offers[2]["changes"]["offered_agent"] == {"before": None,
                                                         "after": after["agent_id"]}


async def _held_by(client: httpx.AsyncClient, stack: Stack, tid: str,
                   agent: str) -> dict | None:
    got = await assignment(client, stack, tid)
    return got if got.get("agent_id") == agent and got.get("status") == "offered" else None


def _router_replica(stack: Stack, port: int) -> subprocess.Popen[bytes]:
    env = dict(stack.procs.env, TIERLINE_ROUTER_PORT=str(port))
    log = open(stack.procs.log_dir / f"router-{port}.log", "ab")  # type: ignore[operator]  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "tierline_shared.cli", "serve", "router"],
                            env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def test_three_router_replicas_never_overfill_or_double_assign(own_stack: Stack) -> None:
    stack = own_stack
    stack.start("intake")
    ports = [free_port() for _ in range(3)]
    replicas = [_router_replica(stack, p) for p in ports]
    try:
        wait_ready({f"router-{p}": f"http://127.0.0.1:{p}" for p in ports}, timeout_s=60)
        roster = {f"agent-{n}": {"name": f"Agent {n}", "tier": 1 + n % 2,
                                 "skills": {"network": 3},
                                 "channels": {"portal": 3, "chat": 2}, "max_total": 4}
                  for n in range(6)}
        async with own_stack.client(timeout=30) as client:
            for n, (agent_id, body) in enumerate(roster.items()):
                r = await client.put(f"http://127.0.0.1:{ports[n % 3]}/v1/agents/{agent_id}",
                                     json=body)
                assert r.status_code == 200, r.text
            total, ids = 90, []
            sem = asyncio.Semaphore(8)

            async def post(n: int) -> str:
                async with sem:
                    r = await client.post(f"{stack.url('intake')}/v1/tickets", json=ticket(
                        title=f"VPN drops ({n})", channel="chat" if n % 3 else "portal",
                        impact="medium", urgency=["high", "medium", "low"][n % 3]))
                    assert r.status_code == 201, r.text
                    return str(r.json()["id"])

            ids += await asyncio.gather(*(post(n) for n in range(45)))
            os.killpg(replicas[0].pid, signal.SIGKILL)  # mid-stream, without a goodbye
            replicas[0].wait()
            ids += await asyncio.gather(*(post(n) for n in range(45, total)))
            live = ports[1:]
            worst: list[int] = []

            async def check_capacity() -> None:
                over = await stack.scalar(
                    "SELECT count(*) FROM (SELECT a.agent_id, a.channel, count(*) AS n, "
                    "(g.channels->>a.channel)::int AS cap, g.max_total FROM "
                    "router.assignments a JOIN router.agents g ON g.id = a.agent_id "
                    "WHERE a.status IN ('offered', 'accepted') "
                    "GROUP BY a.agent_id, a.channel, g.channels, g.max_total) x "
                    "WHERE n > cap")
                totals = await stack.scalar(
                    "SELECT coalesce(max(n - m), -99) FROM (SELECT g.id, g.max_total AS m, "
                    "count(*) AS n FROM router.assignments a JOIN router.agents g ON "
                    "g.id = a.agent_id WHERE a.status IN ('offered', 'accepted') "
                    "GROUP BY g.id, g.max_total) x")
                worst.append(int(totals))
                assert over == 0 and totals <= 0

            resolved: set[str] = set()
            for _round in range(40):
                await check_capacity()
                held = [tid for tid in ids if tid not in resolved and
                        (await assignment_at(client, live[_round % 2], tid)).get("status")
                        in ("offered", "accepted")]
                for tid in held:
                    r = await client.post(
                        f"{stack.url('intake')}/v1/tickets/{tid}/events",
                        json={"type": "status_change", "status": "resolved", "actor": "agent",
                              "resolution_notes": "fixed"})
                    assert r.status_code == 200, r.text
                    resolved.add(tid)
                if len(resolved) == total:
                    break
                await asyncio.sleep(1.0)
            await check_capacity()
            assert len(resolved) == total, f"only {len(resolved)} of {total} ever assigned"
            routed = await read_topic(stack.bootstrap, stack.topics.routing, lambda recs: len(
                {header(r, "ce_subject") for r in recs
                 if header(r, "ce_type") == TicketAssigned.event_type}) >= total, timeout=30)
            per_ticket = Counter(header(r, "ce_subject") for r in routed
                                 if header(r, "ce_type") == TicketAssigned.event_type)
            distinct = {header(r, "ce_id") for r in routed
                        if header(r, "ce_type") == TicketAssigned.event_type}
            assert set(per_ticket) == set(ids)
            assert len(distinct) == total  # each ticket offered once, by one replica
            print(f"\nreplicas: {total} tickets through 3 routers (one killed): each assigned "
                  f"once; headroom to the tightest total cap never below {-max(worst)}")
    finally:
        for proc in replicas:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(20)


async def assignment_at(client: httpx.AsyncClient, port: int, tid: str) -> dict[str, Any]:
    r = await client.get(f"http://127.0.0.1:{port}/v1/assignments/{tid}")
    return r.json() if r.status_code == 200 else {}


async def test_agent_import_is_all_or_none_and_bad_input_names_the_field(stack: Stack) -> None:
    router = stack.url("router")
    good = {"id": "imp-1", "name": "Imp", "tier": 2, "skills": {"network": 4},
            "channels": {"chat": 3, "email": 5}, "max_total": 6, "languages": ["en", "pt"],
            "team": "network-ops", "manager": "mia", "timezone": "Europe/Lisbon",
            "working_hours": {"mon": ["09:00-13:00", "14:00-18:00"]}}
    async with stack.client() as client:
        bad = await client.post(f"{router}/v1/agents/import", json={"agents": [
            good, dict(good, id="imp-2", skills={"network": 9})]})
        assert bad.status_code == 422, bad.text
        assert "agents.1.skills.network" in bad.text
        assert (await client.get(f"{router}/v1/agents/imp-1")).status_code == 404  # none
        r = await client.post(f"{router}/v1/agents/import", json={"agents": [
            good, dict(good, id="imp-2", tier=3)]})
        assert r.status_code == 200 and r.json()["imported"] == 2
        agent = (await client.get(f"{router}/v1/agents/imp-1")).json()
        assert (agent["timezone"], agent["manager"], agent["max_total"]) == (
            "Europe/Lisbon", "mia", 6)
        assert agent["active_total"] == 0
        for body, field in [
                (dict(good, timezone="Mars/Olympus"), "timezone"),
                (dict(good, working_hours={"mon": ["18:00-09:00"]}), "working_hours"),
                (dict(good, channels={"fax": 1}), "channels")]:
            body.pop("id")
            r = await client.put(f"{router}/v1/agents/imp-3", json=body)
            assert r.status_code == 422 and field in r.text, (field, r.text)
        r = await client.post(f"{router}/v1/assignments/{uuid.uuid4()}/accept",
                              json={"agent_id": "imp-1"})
        assert r.status_code == 409 and r.json()["error"] == "no_open_offer"
        r = await client.put(f"{router}/v1/agents/nobody/presence", json={"presence": "away"})
        assert r.status_code == 404 and r.json()["error"] == "not_found"
