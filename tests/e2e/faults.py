"""Steady load and the after-the-fault audit shared by the fault tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.conftest import BIG_ROSTER, Stack, counter, ticket
from tests.helpers import eventually, header, read_topic
from tierline_shared.bus.events import SlaBreached, SlaClockStarted, SlaWarning, TicketAssigned
from tierline_shared.settings import POLICY_DIR

# Every ticket of these tests is P2; its first response is due in 6 s, so each one's two
# warnings (50 %, 75 %) and its breach come due during the test.
SLA_EVENTS_PER_TICKET = 5  # 2 clocks started, 2 warnings, 1 breach


# Room for 600 tickets on the portal (an agent takes at most 50 per channel): the longer
# fault tests post a few hundred, which must all be assigned, none left queued.
ROOMY_ROSTER = {f"agent-{n}": {**BIG_ROSTER["agent-0"], "name": f"Agent {n}", "tier": 1 + n % 2}
                for n in range(12)}


def due_soon_policies(folder: Path) -> Path:
    shutil.copytree(POLICY_DIR, folder, dirs_exist_ok=True)
    sla = yaml.safe_load((folder / "sla.yaml").read_text())
    sla["targets"]["P2"]["first_response"] = 0.1
    (folder / "sla.yaml").write_text(yaml.safe_dump(sla))
    return folder


@dataclass
class Load:
    """Posts tickets, each with its own Idempotency-Key; remembers what was accepted.

    A 503 (``refused``) or a request that never got an answer (``unreachable``: intake
    down, or killed while answering) is a "retry later": :meth:`retry_later` sends it
    again with the same key, so a ticket stored before its answer was lost comes back
    as the same ticket."""

    stack: Stack
    client: httpx.AsyncClient
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> ticket id
    refused: dict[str, str] = field(default_factory=dict)  # key -> Retry-After
    unreachable: dict[str, str] = field(default_factory=dict)  # key -> transport error
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
            self.unreachable[key] = repr(exc)
            return
        self.unreachable.pop(key, None)
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

    async def until(self, done: asyncio.Event, first: int, per_s: float) -> int:
        """Post at ``per_s`` from ticket ``first`` until ``done`` is set; the next number."""
        tasks = []
        n = first
        while not done.is_set():
            tasks.append(asyncio.create_task(self.post(n)))
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 1 / per_s)
        await asyncio.gather(*tasks)
        return n

    async def retry_later(self) -> None:
        """Send what was refused or never answered again, with the same key."""
        for key in sorted({*self.refused, *self.unreachable}):
            await self.post(int(key.removeprefix("fault-")))


class BrokerProxy:
    """A TCP proxy from 127.0.0.1:``port`` to the broker on ``target_port``, on an event
    loop of its own thread (so a test's blocking waits do not stall the traffic).
    :meth:`close` stops listening and cuts every proxied connection: to its clients the
    broker is gone, while the broker process and its in-memory log stay as they were."""

    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.target_port = target_port
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"broker-proxy-{port}")
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def open(self) -> None:
        async def listen() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                      reuse_address=True)

        self._call(listen())

    def close(self) -> None:
        async def cut() -> None:
            server, self._server = self._server, None
            if server is not None:
                server.close()
            for writer in list(self._open):
                writer.transport.abort()
            self._open.clear()

        self._call(cut())

    def stop(self) -> None:
        self.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        if self._server is None:  # closed while this one was connecting
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self.connections += 1
        self._open.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()

        pipes = [asyncio.create_task(pipe(reader, up_writer)),
                 asyncio.create_task(pipe(up_reader, writer))]
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for w in (writer, up_writer):
            w.transport.abort()
            self._open.discard(w)


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
        # Both: after a restart metrics may catch up on the routing topic before the ticket
        # topics (the upserts do not mind the order), so assigned can be complete first.
        return text if counter(text, "tierline_tickets_assigned_total") >= total and \
            counter(text, "tierline_tickets_created_total") >= total else None

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
