"""SLA timers, escalations and major incidents through the running services: an
escalation moves the ticket in router and is counted by metrics; a burst of incidents on one
service raises one major incident that router records and metrics counts."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import Stack, counter, ticket
from tests.helpers import eventually, header, read_topic
from tierline_shared.bus.events import SlaBreached, SlaWarning, TicketEscalated
from tierline_shared.settings import POLICY_DIR

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

ROSTER = {
    "t1-ana": {"name": "Ana", "tier": 1, "skills": {"network": 4},
               "channels": {"portal": 5}},
    "t2-ben": {"name": "Ben", "tier": 2, "skills": {"network": 4},
               "channels": {"portal": 5}},
}


def fast_policies(folder: Path) -> Path:
    """The shipped policies with P1 targets of seconds, so timers fire during the test."""
    shutil.copytree(POLICY_DIR, folder, dirs_exist_ok=True)
    sla = yaml.safe_load((folder / "sla.yaml").read_text())
    sla["targets"]["P1"] = {"first_response": 0.05, "resolution": 0.2, "update": 0.1,
                            "calendar": "24x7"}  # 3 s, 12 s, 6 s
    (folder / "sla.yaml").write_text(yaml.safe_dump(sla))
    return folder


async def metrics_text(stack: Stack) -> str:
    async with stack.client() as client:
        return (await client.get(f"{stack.url('metrics')}/metrics")).text


async def test_sla_escalation_reaches_router_and_metrics(own_stack: Stack,
                                                         tmp_path: Path) -> None:
    stack = own_stack
    stack.procs.env["TIERLINE_POLICY_DIR"] = str(fast_policies(tmp_path / "policies"))
    stack.start()
    await stack.put_roster(ROSTER)
    async with own_stack.client() as client:
        r = await client.post(f"{stack.url('intake')}/v1/tickets", json=ticket(
            priority_override={"priority": "P1", "by": "lead", "reason": "CEO cannot work"}))
        assert r.status_code == 201, r.text
        tid = r.json()["id"]

        async def first_assignment() -> dict | None:
            got = await client.get(f"{stack.url('router')}/v1/assignments/{tid}")
            return got.json() if got.status_code == 200 else None

        assert (await eventually(first_assignment, what="assignment"))["agent_id"] == "t1-ana"
        # nobody responds: at 75% of the 12 s resolution target the tier 1 -> 2 rule fires
        def escalated_and_breached(recs: list) -> bool:
            mine = [r for r in recs if header(r, "ce_subject") == tid]
            return any(header(r, "ce_type") == TicketEscalated.event_type
                       and b'"functional"' in r.value for r in mine) and any(
                header(r, "ce_type") == SlaBreached.event_type for r in mine)

        records = await read_topic(stack.bootstrap, stack.topics.sla, escalated_and_breached,
                                   timeout=40)
        types = [header(r, "ce_type") for r in records if header(r, "ce_subject") == tid]
        assert types.count(SlaWarning.event_type) >= 2  # 50% and 75% of each running clock

        async def moved() -> dict | None:
            got = (await client.get(f"{stack.url('router')}/v1/assignments/{tid}")).json()
            return got if got.get("agent_id") == "t2-ben" else None

        await eventually(moved, what="router moving the escalated ticket to tier 2")
        clocks = (await client.get(f"{stack.url('sla')}/v1/sla/{tid}")).json()
        assert any(e["kind"] == "functional" for e in clocks["escalations"])

        async def counted() -> float | None:
            value = counter(await metrics_text(stack), "tierline_escalations_total",
                            kind="functional", trigger="time")
            return value or None

        await eventually(counted, what="metrics counting the escalation")


async def test_a_burst_on_one_service_is_one_major_incident_everywhere(stack: Stack) -> None:
    service = f"Payroll {uuid.uuid4().hex[:6]}"
    async with stack.client() as client:
        ids = []
        for n in range(6):
            r = await client.post(f"{stack.url('intake')}/v1/tickets", json=ticket(
                title=f"Payroll run fails ({n})", service={"name": service}))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])

        async def declared() -> dict | None:
            found = (await client.get(f"{stack.url('sla')}/v1/major-incidents",
                                      params={"status": "declared"})).json()["items"]
            mine = [m for m in found if m["service"] == service]
            return mine[0] if mine and len(mine[0]["ticket_ids"]) == 6 else None

        incident = await eventually(declared, what="one major incident with all six tickets")
        found = (await client.get(f"{stack.url('sla')}/v1/major-incidents")).json()["items"]
        assert len([m for m in found if m["service"] == service]) == 1
        assert sorted(incident["ticket_ids"]) == sorted(ids)
        mi = incident["id"]

        async def router_knows() -> list | None:  # the link reached router over Kafka
            got = (await client.get(f"{stack.url('router')}/v1/assignments/{ids[-1]}/history"
                                    )).json()["items"]
            return [h for h in got if h["action"] == "major_incident"] or None

        linked = await eventually(router_knows, what="router recording the major incident")
        assert [h["detail"]["major_incident_id"] for h in linked] == [mi]

        async def mi_event(body: dict) -> httpx.Response:
            return await client.post(f"{stack.url('sla')}/v1/major-incidents/{mi}/events",
                                     json=body)

        early = await mi_event({"type": "root_cause", "by": "im", "root_cause": "x"})
        assert early.status_code == 409, early.text
        assert (await mi_event({"type": "restore", "by": "im"})).json()["status"] == "restored"
        assert (await mi_event({"type": "root_cause", "by": "im",
                                "root_cause": "expired certificate"})).status_code == 200
        item = await mi_event({"type": "action_item", "by": "im", "title": "Alert on expiry",
                               "owner": "ops", "due": "2026-12-31"})
        assert item.status_code == 200
        assert (await mi_event({"type": "resolve", "by": "im"})).status_code == 200
        refused = await mi_event({"type": "close", "by": "im"})
        assert refused.status_code == 409 and "Alert on expiry" in refused.text
        await mi_event({"type": "complete_action_item", "by": "ops", "item_id": 1})
        assert (await mi_event({"type": "close", "by": "im"})).json()["status"] == "closed"

    async def counted() -> float | None:
        return counter(await metrics_text(stack), "tierline_major_incidents_total") or None

    await eventually(counted, what="metrics counting the major incident")
