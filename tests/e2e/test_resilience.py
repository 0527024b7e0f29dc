"""Faults with real processes: the broker away, consumers killed mid-stream, a service
started before its PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter

import pytest

from tests.e2e.conftest import Stack, counter, ticket
from tests.helpers import eventually, header, read_topic
from tierline_shared.bus.events import TicketAssigned
from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


async def assigned_count(stack: Stack) -> int:
    return int(await stack.scalar("SELECT count(*) FROM router.assignments"))


async def test_broker_unreachable_tickets_are_accepted_then_delivered(own_stack: Stack,
                                                                     tmp_path) -> None:
    port = free_port()
    stack = own_stack
    stack.bootstrap = f"127.0.0.1:{port}"
    stack.settings = stack.settings.model_copy(update={"kafka_bootstrap_servers":
                                                       stack.bootstrap})
    stack.procs.env["TIERLINE_KAFKA_BOOTSTRAP_SERVERS"] = stack.bootstrap
    stack.procs.env["TIERLINE_OUTBOX_DEPTH_INTERVAL_S"] = "0.2"
    stack.start(ready=False)  # nothing listens on the broker port yet
    async with own_stack.client() as client:
        # Intake is ready without the broker (its outbox holds the work); router, whose
        # work comes from the broker, is not.
        ready = await client.get(f"{stack.url('intake')}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": True, "broker": False,
                                          "consumer": False}
        router = await client.get(f"{stack.url('router')}/readyz")
        assert router.status_code == 503
        assert router.json()["checks"]["consumer"] is False
        await stack.put_roster()
        ids = []
        for n in range(5):
            r = await client.post(f"{stack.url('intake')}/v1/tickets",
                                  json=ticket(title=f"VPN down {n}"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
            ready = await client.get(f"{stack.url('intake')}/readyz")
            assert ready.status_code == 200, ready.text
        assert await stack.scalar("SELECT count(*) FROM intake.outbox") == 5

        async def depth_on_metrics() -> bool:
            text = (await client.get(f"{stack.url('intake')}/metrics")).text
            return counter(text, "tierline_outbox_pending_events", service="intake") == 5

        await eventually(depth_on_metrics, timeout=10, what="the outbox depth on /metrics")
        assert await stack.scalar("SELECT count(*) FROM intake.outbox") == 5

        broker = EmbeddedKafka(port, log_path=tmp_path / "late-broker.log")
        broker.start()
        try:
            async def all_assigned() -> bool:
                return await assigned_count(stack) == 5

            await eventually(all_assigned, timeout=60,
                             what="all five assigned once the broker is up")
            assert await stack.scalar("SELECT count(*) FROM intake.outbox") == 0
            for ticket_id in ids:
                r = await client.get(f"{stack.url('router')}/v1/assignments/{ticket_id}")
                assert r.status_code == 200
            stack.wait("readyz", "intake", "router", "sla", "metrics")
        finally:
            await stack.stop()
            broker.stop()


async def test_consumers_killed_mid_stream_lose_nothing_and_double_nothing(
        own_stack: Stack) -> None:
    stack = own_stack
    stack.start()
    await stack.put_roster()
    total = 60
    ids: list[str] = []
    async with own_stack.client() as client:
        async def post(n: int) -> None:
            r = await client.post(f"{stack.url('intake')}/v1/tickets",
                                  json=ticket(title=f"Laptop {n} will not boot",
                                              description="The laptop shows a black screen"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])

        await asyncio.gather(*(post(n) for n in range(total // 2)))

        async def some_assigned() -> bool:
            return await assigned_count(stack) >= 5

        await eventually(some_assigned, what="the first assignments")
        for service in ("router", "sla", "metrics"):
            stack.procs.stop(service, sig=signal.SIGKILL)
        await asyncio.gather(*(post(n) for n in range(total // 2, total)))
        stack.start("router", "sla", "metrics")

        async def all_assigned() -> bool:
            return await assigned_count(stack) == total

        await eventually(all_assigned, timeout=60, what="every ticket assigned")

        # Once each: one assignment row, one distinct assignment event, one SLA history entry.
        routed = await read_topic(stack.bootstrap, stack.topics.routing, lambda recs: len(
            {header(r, "ce_subject") for r in recs
             if header(r, "ce_type") == TicketAssigned.event_type}) >= total)
        event_ids = {header(r, "ce_id"): header(r, "ce_subject") for r in routed
                     if header(r, "ce_type") == TicketAssigned.event_type}
        per_ticket = Counter(event_ids.values())
        assert set(per_ticket) == set(ids)
        assert set(per_ticket.values()) == {1}
        load = await stack.scalar("SELECT count(*) FROM router.assignments "
                                  "WHERE status IN ('offered', 'accepted')")
        assert load == total

        async def sla_complete() -> bool:
            return await stack.scalar(
                "SELECT count(*) FROM sla.history "
                "WHERE event_type = 'tierline.ticket.assigned.v1'") == total and \
                await stack.scalar("SELECT count(*) FROM sla.clocks "
                                   "WHERE clock <> 'update'") == 2 * total

        await eventually(sla_complete, timeout=30, what="sla saw every ticket once")
        assert await stack.scalar(
            "SELECT count(*) FROM sla.history WHERE event_type IN "
            "('tierline.ticket.created.v1', 'tierline.ticket.assigned.v1')") == 2 * total
        # the same requester again and again: repeat-contact escalations, each ticket once
        repeats = await stack.scalar(
            "SELECT count(*) FROM sla.escalations WHERE trigger = 'repeat_contact'")
        assert 0 < repeats <= total - 2
        assert repeats == await stack.scalar(
            "SELECT count(DISTINCT ticket_id) FROM sla.escalations "
            "WHERE trigger = 'repeat_contact'")

        async def metrics_complete() -> bool:
            text = (await client.get(f"{stack.url('metrics')}/metrics")).text
            return counter(text, "tierline_tickets_assigned_total") == total and \
                counter(text, "tierline_tickets_created_total") == total

        await eventually(metrics_complete, timeout=30, what="metrics counted every ticket once")


def service_log(stack: Stack, service: str) -> str:
    assert stack.procs.log_dir is not None
    return (stack.procs.log_dir / f"{service}.log").read_text(errors="replace")


async def test_a_service_started_before_postgres_waits_for_it(
        own_pg_stack: tuple[Stack, EmbeddedPostgres]) -> None:
    stack, pg = own_pg_stack
    await asyncio.to_thread(pg.stop)
    stack.procs.start("router")

    async def waiting() -> bool:
        return "waiting for the database" in service_log(stack, "router")

    await eventually(waiting, timeout=60, what="router saying it waits for the database")
    await asyncio.to_thread(pg.start)
    await asyncio.to_thread(stack.wait, "readyz", "router")
    assert stack.procs.exited() == {}
    assert "giving up" not in service_log(stack, "router")


async def test_a_service_whose_postgres_never_answers_exits_with_a_message(
        own_pg_stack: tuple[Stack, EmbeddedPostgres]) -> None:
    stack, pg = own_pg_stack
    await asyncio.to_thread(pg.stop)
    stack.procs.env["TIERLINE_STARTUP_WAIT_S"] = "3"
    proc = stack.procs.start("router")
    code = await asyncio.to_thread(proc.wait, 120)
    assert code != 0
    lines = [json.loads(line) for line in service_log(stack, "router").splitlines()
             if line.startswith("{")]
    waits = [r for r in lines if r.get("event") == "waiting for the database"]
    gave_up = [r for r in lines if r.get("event") == "giving up: database unreachable at "
               "start-up"]
    assert waits and all(str(pg.port) in r["database"] for r in waits)
    assert len(gave_up) == 1 and gave_up[0]["waited_s"] == 3
    assert "TIERLINE_STARTUP_WAIT_S" in service_log(stack, "router")
