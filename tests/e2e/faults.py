"""Steady load and the after-the-fault audit shared by the fault tests."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.conftest import Stack, counter, ticket
from tests.helpers import eventually, header, read_topic
from tierline_shared.bus.events import SlaBreached, SlaClockStarted, SlaWarning, TicketAssigned
from tierline_shared.settings import POLICY_DIR

# Every ticket of these tests is P2; its first response is due in 6 s, so each one's two
# warnings (50 %, 75 %) and its breach come due during the test.
SLA_EVENTS_PER_TICKET = 5  # 2 clocks started, 2 warnings, 1 breach


def due_soon_policies(folder: Path) -> Path:
    shutil.copytree(POLICY_DIR, folder, dirs_exist_ok=True)
    sla = yaml.safe_load((folder / "sla.yaml").read_text())
    sla["targets"]["P2"]["first_response"] = 0.1
    (folder / "sla.yaml").write_text(yaml.safe_dump(sla))
    return folder


@dataclass
class Load:
    """Posts tickets, each with its own Idempotency-Key; remembers what was accepted."""

    stack: Stack
    client: httpx.AsyncClient
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> ticket id
    refused: dict[str, str] = field(default_factory=dict)  # key -> Retry-After
    failed: list[str] = field(default_factory=list)
    sent: int = 0

    async def post(self, n: int) -> None:
        key = f"fault-{n}"
        self.sent += 1
        try:
            r = await self.client.post(
                f"{self.stack.url('intake')}/v1/tickets", headers={"Idempotency-Key": key},
                json=ticket(title=f"VPN drops for user {n}",
                            requester={"id": f"u-{n}", "name": f"User {n}",
                                       "email": f"user{n}@example.com"}))
        except httpx.TransportError as exc:
            self.failed.append(f"{key}: {exc!r}")
            return
        if r.status_code in (200, 201):
            self.accepted[key] = r.json()["id"]
            self.refused.pop(key, None)
        elif r.status_code == 503:
            self.refused[key] = r.headers.get("Retry-After", "")
        else:
            self.failed.append(f"{key}: {r.status_code} {r.text}")

    async def steady(self, first: int, count: int, per_s: float) -> None:
        tasks = []
        for n in range(first, first + count):
            tasks.append(asyncio.create_task(self.post(n)))
            await asyncio.sleep(1 / per_s)
        await asyncio.gather(*tasks)

    async def retry_refused(self) -> None:
        for key in list(self.refused):
            await self.post(int(key.removeprefix("fault-")))


async def audit(stack: Stack, client: httpx.AsyncClient, ids: set[str]) -> dict[str, Any]:
    """Count, once everything has settled: assignments, due SLA events, metrics."""
    total = len(ids)

    async def all_assigned() -> bool:
        return await stack.scalar("SELECT count(*) FROM router.assignments") == total

    await eventually(all_assigned, timeout=120, what="every accepted ticket assigned")
    routed = await read_topic(stack.bootstrap, stack.topics.routing, lambda recs: len(
        {header(r, "ce_subject") for r in recs
         if header(r, "ce_type") == TicketAssigned.event_type}) >= total, timeout=60)
    assignments = Counter(dict({header(r, "ce_id"): header(r, "ce_subject") for r in routed
                                if header(r, "ce_type") == TicketAssigned.event_type}).values())

    kinds = {SlaClockStarted.event_type, SlaWarning.event_type, SlaBreached.event_type}

    def sla_key(r: Any) -> tuple[str, ...]:
        body = json.loads(r.value)
        return (header(r, "ce_subject"), header(r, "ce_type"), body["clock"],
                str(body.get("threshold_percent", "")))

    def all_due(recs: list[Any]) -> bool:
        return len({sla_key(r) for r in recs if header(r, "ce_type") in kinds}) \
            >= SLA_EVENTS_PER_TICKET * total

    timed = await read_topic(stack.bootstrap, stack.topics.sla, all_due, timeout=120)
    sla_events = Counter(dict({header(r, "ce_id"): sla_key(r) for r in timed
                               if header(r, "ce_type") in kinds}).values())

    async def metrics_settled() -> str | None:
        text = (await client.get(f"{stack.url('metrics')}/metrics")).text
        return text if counter(text, "tierline_tickets_assigned_total") >= total else None

    exposition = await eventually(metrics_settled, timeout=60, what="metrics caught up")
    return {
        "accepted": total,
        "stored_in_intake": await stack.scalar("SELECT count(*) FROM intake.tickets"),
        "assigned_tickets": len(set(assignments) & ids),
        "assigned_more_than_once": sum(1 for c in assignments.values() if c > 1),
        "sla_events_due": SLA_EVENTS_PER_TICKET * total,
        "sla_events_fired": len(sla_events),
        "sla_events_fired_twice": sum(1 for c in sla_events.values() if c > 1),
        "metrics_created": counter(exposition, "tierline_tickets_created_total"),
        "metrics_assigned": counter(exposition, "tierline_tickets_assigned_total"),
    }


def assert_counts(counts: dict[str, Any]) -> None:
    total = counts["accepted"]
    print(f"\nfault counts: {json.dumps(counts)}")
    assert counts["stored_in_intake"] == total
    assert counts["assigned_tickets"] == total and counts["assigned_more_than_once"] == 0
    assert counts["sla_events_fired"] == counts["sla_events_due"]
    assert counts["sla_events_fired_twice"] == 0
    assert counts["metrics_created"] == total and counts["metrics_assigned"] == total
