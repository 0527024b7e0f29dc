"""Acceptance where agents work, through the running intake and router: a rule that
auto-accepts (final at once, written back), a rule that waits for the desk (accepted when
the desk shows the ticket in progress by the offered agent), and a desk that gives the
ticket to someone else (router frees its agent and records the desk's choice)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Databases
from tests.e2e.conftest import Stack
from tests.e2e.desk_servers import CREDENTIALS, DeskServer, connection_body
from tests.helpers import eventually
from tests.samples import sample
from tierline_shared.embedded import EmbeddedKafka
from tierline_shared.settings import POLICY_DIR

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

SKILLS = {s: 4 for s in ("general", "network", "software", "hardware", "access")}
ROSTER = {
    "ana": {"name": "Ana Lima", "tier": 1, "skills": SKILLS,
            "channels": {"portal": 10, "api": 10},
            "desk_ids": {"acc-jira": {"user": "acc-ana"}, "acc-zd": {"user": "7001"}}},
    # tier 2: router prefers ana; the desk may still give ben the ticket
    "ben": {"name": "Ben Ode", "tier": 2, "skills": SKILLS,
            "channels": {"portal": 10, "api": 10},
            "desk_ids": {"acc-jira": {"user": "acc-ben"}, "acc-zd": {"user": "7002"}}},
}


@pytest.fixture(scope="module")
async def stack(databases: Databases, kafka: EmbeddedKafka,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    policies = tmp_path_factory.mktemp("policies")
    shutil.copytree(POLICY_DIR, policies, dirs_exist_ok=True)
    routing = yaml.safe_load((Path(policies) / "routing.yaml").read_text())
    routing["rules"] = [
        {"name": "jira-auto", "when": {"channels": ["api"]}, "acceptance": "auto_accept"},
        {"name": "zendesk-in-desk", "when": {"channels": ["portal"]},
         "acceptance": "accept_in_desk"},
        *routing["rules"]]
    (Path(policies) / "routing.yaml").write_text(yaml.safe_dump(routing))
    s = Stack(databases, kafka.bootstrap_servers, tmp_path_factory.mktemp("logs"))
    s.procs.env["TIERLINE_POLICY_DIR"] = str(policies)
    s.start("intake", "router")
    await s.put_roster(ROSTER)
    yield s
    await s.stop()


async def assignment(stack: Stack, ticket_id: str, status: str,
                     agent: str | None = None) -> dict[str, Any]:
    async with stack.client("router") as client:
        async def check() -> Any:
            r = await client.get(f"/v1/assignments/{ticket_id}")
            ok = r.status_code == 200 and r.json()["status"] == status and (
                agent is None or r.json()["agent_id"] == agent)
            return ok and r.json()
        return await eventually(check, what=f"{ticket_id} {status} to {agent}")


async def on_intake(stack: Stack, ticket_id: str, state: str, offered: str | None,
                    assigned: str | None) -> None:
    """Intake's ticket shows router's outcome: its routing state and agents."""
    want = {"routing_state": state, "offered_agent": offered, "assigned_agent": assigned}
    async with stack.client("intake") as client:
        async def check() -> bool:
            r = await client.get(f"/v1/tickets/{ticket_id}")
            return r.status_code == 200 and {k: r.json()[k] for k in want} == want
        await eventually(check, what=f"intake showing {ticket_id} {want}")


async def load(stack: Stack, agent: str) -> int:
    async with stack.client("router") as client:
        return (await client.get(f"/v1/agents/{agent}")).json()["active_total"]


async def history(stack: Stack, ticket_id: str) -> list[dict[str, Any]]:
    async with stack.client("router") as client:
        return (await client.get(f"/v1/assignments/{ticket_id}/history")).json()["items"]


async def post(stack: Stack, system: str, payload: dict[str, Any], status: int) -> Any:
    async with stack.client("intake") as client:
        r = await client.post(f"/v1/adapters/{system}", json=payload)
    assert r.status_code == status, r.text
    return r.json()


async def test_auto_accept_is_final_at_once_and_written_back(stack: Stack) -> None:
    desk = DeskServer("jira", CREDENTIALS["jira"][2])
    await desk.start()
    try:
        async with stack.client("intake") as client:
            r = await client.post("/v1/connections", json=connection_body(
                "jira", "acc-jira", desk.base_url))
            assert r.status_code == 201, r.text
        created = await post(stack, "jira", sample("jira_issue_created"), 201)
        desk.add(created["external_id"])
        found = await assignment(stack, created["ticket"]["id"], "accepted", "ana")
        assert found["offer_expires_at"] is None and "'jira-auto'" in found["reasons"]["rule"]
        record = desk.records[created["external_id"]]
        await eventually(lambda: asyncio.sleep(0, record.assignee == "acc-ana"),
                         what="auto-accepted assignment written back")
        assert [a["action"] for a in await history(stack, created["ticket"]["id"])][-2:] == [
            "offered", "accepted"]
        await on_intake(stack, created["ticket"]["id"], "accepted", None, "ana")
    finally:
        await desk.stop()


def zendesk(ticket_id: int, assignee: int | None, updated: str) -> dict[str, Any]:
    payload = sample("zendesk_ticket")
    payload["ticket"].update(id=ticket_id, updated_at=updated, assignee_id=assignee)
    if assignee is None:
        payload["ticket"].pop("assignee_id")
    return payload


async def test_accept_in_desk_and_a_desk_reassignment_is_respected(stack: Stack) -> None:
    desk = DeskServer("zendesk", CREDENTIALS["zendesk"][2])
    async with stack.client("intake") as client:
        r = await client.post("/v1/connections", json=connection_body(
            "zendesk", "acc-zd", desk.base_url))
        assert r.status_code == 201, r.text
    zd = r.json()["id"]
    # 1. offered to ana with no timeout; ana takes it in Zendesk: accepted, nothing written
    first = (await post(stack, "zendesk", zendesk(81001, None, "2026-11-24T09:00:00Z"),
                        201))["ticket"]["id"]
    offer = await assignment(stack, first, "offered", "ana")
    assert offer["offer_expires_at"] is None
    await on_intake(stack, first, "offered", "ana", None)
    assert "'zendesk-in-desk'" in offer["reasons"]["rule"]
    await post(stack, "zendesk", zendesk(81001, 7001, "2026-11-24T09:05:00Z"), 200)
    await assignment(stack, first, "accepted", "ana")
    await on_intake(stack, first, "accepted", None, "ana")
    # 2. offered to ana; the desk gives it to ben: ana is freed, ben holds it
    second = (await post(stack, "zendesk", zendesk(81002, None, "2026-11-24T09:00:00Z"),
                         201))["ticket"]["id"]
    await assignment(stack, second, "offered", "ana")
    ana_before = await load(stack, "ana")
    await post(stack, "zendesk", zendesk(81002, 7002, "2026-11-24T09:06:00Z"), 200)
    taken = await assignment(stack, second, "accepted", "ben")
    assert taken["reasons"]["rule"] == "desk"
    assert await load(stack, "ana") == ana_before - 1 and await load(stack, "ben") == 1
    actions = [(h["action"], h["agent_id"]) for h in await history(stack, second)]
    assert ("declined", "ana") in actions and ("taken_in_desk", "ben") in actions
    await on_intake(stack, second, "accepted", None, "ben")
    # 3. someone outside router's roster takes it: released, and router leaves it alone
    third = (await post(stack, "zendesk", zendesk(81003, None, "2026-11-24T09:00:00Z"),
                        201))["ticket"]["id"]
    await assignment(stack, third, "offered", "ana")
    await post(stack, "zendesk", zendesk(81003, 999999, "2026-11-24T09:07:00Z"), 200)
    await assignment(stack, third, "released", "ana")
    last = (await history(stack, third))[-1]
    assert last["action"] == "taken_in_desk" and last["detail"]["desk_user"] == "999999"
    await on_intake(stack, third, "released", None, None)  # ana no longer named
    # the same payload again changes nothing; an older one neither
    again = await post(stack, "zendesk", zendesk(81003, 999999, "2026-11-24T09:07:00Z"), 200)
    assert again["outcome"] == "duplicate"
    older = await post(stack, "zendesk", zendesk(81003, 7001, "2026-11-24T09:01:00Z"), 200)
    assert older["outcome"] == "stale"
    await asyncio.sleep(1.0)
    await assignment(stack, third, "released", "ana")
    # none of this was written back: the desk already shows it
    async with stack.client("intake") as client:
        r = await client.get(f"/v1/connections/{zd}/writebacks")
    assert r.status_code == 200 and r.json()["total"] == 0
