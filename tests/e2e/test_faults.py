"""Faults with real processes, then a count: each service SIGKILLed in turn and restarted,
the broker unreachable for 30 seconds and PostgreSQL away for 30 seconds, all under a
steady load, and a burst of ten times the steady rate. Each test prints its counts (run
pytest with ``-s`` to see them; they are also in the run's closing summary) and asserts
that every accepted ticket was stored and assigned exactly once, every due SLA event fired
exactly once and metrics counted every ticket."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Databases
from tests.e2e.conftest import Stack
from tests.e2e.faults import (
    ROOMY_ROSTER,
    BrokerProxy,
    Load,
    assert_counts,
    audit,
    due_soon_policies,
)
from tests.helpers import eventually
from tests.reports import REPORT
from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from tierline_shared.migrate import SERVICES

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

STEADY_PER_S = 4.0
OUTAGE_S = 30


@pytest.fixture
def pg_stack(own_pg_stack: tuple[Stack, EmbeddedPostgres],
             tmp_path: Path) -> tuple[Stack, EmbeddedPostgres]:
    """A stack on a PostgreSQL server of its own, which the test may stop and start."""
    stack, _ = own_pg_stack
    stack.procs.env["TIERLINE_POLICY_DIR"] = str(due_soon_policies(tmp_path / "policies"))
    return own_pg_stack


async def test_postgres_away_30s_intake_answers_503_and_loses_nothing(
        pg_stack: tuple[Stack, EmbeddedPostgres]) -> None:
    stack, pg = pg_stack
    stack.start()
    await stack.put_roster()
    async with stack.client(timeout=30) as client:
        load = Load(stack, client)
        await load.steady(0, 8, STEADY_PER_S)
        await asyncio.to_thread(pg.stop)
        during = asyncio.create_task(load.steady(8, int(OUTAGE_S * STEADY_PER_S), STEADY_PER_S))

        async def not_ready() -> dict | None:
            r = await client.get(f"{stack.url('intake')}/readyz")
            return r.json() if r.status_code == 503 else None

        checks = (await eventually(not_ready, what="intake not ready"))["checks"]
        assert checks["database"] is False
        await during
        await asyncio.to_thread(pg.start)
        stack.wait("readyz", "intake", "router", "sla", "metrics")
        await load.steady(200, 8, STEADY_PER_S)
        refused_during = dict(load.refused)
        assert load.unreachable == {}  # intake itself stayed up and answered
        await load.retry_later()  # the client retries what was refused, same key

        assert load.failed == []
        assert refused_during and set(refused_during.values()) == {"5"}, refused_during
        assert load.refused == {}
        counts = await audit(stack, client, set(load.accepted.values()))
        counts["refused_with_503_then_accepted"] = len(refused_during)
        assert_counts(counts)
        REPORT["fault postgres away 30 s"] = str(counts)


async def test_a_burst_of_ten_times_the_steady_rate(own_stack: Stack, tmp_path: Path) -> None:
    stack = own_stack
    stack.procs.env["TIERLINE_POLICY_DIR"] = str(due_soon_policies(tmp_path / "policies"))
    stack.start()
    await stack.put_roster()
    async with stack.client(timeout=60) as client:
        load = Load(stack, client)
        await load.steady(0, 8, STEADY_PER_S)
        await load.steady(8, 80, 10 * STEADY_PER_S)
        await load.steady(88, 8, STEADY_PER_S)
        assert load.failed == [] and load.refused == {} and load.unreachable == {}
        counts = await audit(stack, client, set(load.accepted.values()))
        assert counts["accepted"] == 96
        assert_counts(counts)
        REPORT["fault burst 10x"] = str(counts)


async def test_each_service_sigkilled_under_load_then_restarted(own_stack: Stack,
                                                                tmp_path: Path) -> None:
    """One steady load throughout; intake, router, sla and metrics are SIGKILLed in turn,
    each restarted two seconds later. The next kill comes once the restarted process is up
    (healthz), not ready: waiting for its consumer to rejoin its group (the dead member's
    session has to time out first) would double the run for no other fault."""
    stack = own_stack
    stack.procs.env["TIERLINE_POLICY_DIR"] = str(due_soon_policies(tmp_path / "policies"))
    stack.start()
    await stack.put_roster(ROOMY_ROSTER)
    async with stack.client(timeout=30) as client:
        load = Load(stack, client)
        done = asyncio.Event()
        running = asyncio.create_task(load.until(done, 0, STEADY_PER_S))
        killed = []
        for service in SERVICES:
            await asyncio.sleep(2)
            await asyncio.to_thread(stack.procs.stop, service, signal.SIGKILL)
            killed.append(service)
            await asyncio.sleep(2)
            # stack.start waits, blocking: in a thread, so the load goes on meanwhile
            await asyncio.to_thread(stack.start, service, ready=False)
        await asyncio.sleep(2)
        done.set()
        posted = await running
        unreachable_while_intake_was_down = dict(load.unreachable)
        await load.retry_later()  # the client retries what got no answer, same key

        assert killed == list(SERVICES)
        assert unreachable_while_intake_was_down, "the load never met intake down"
        assert load.failed == [] and load.refused == {} and load.unreachable == {}
        assert len(load.accepted) == posted
        counts = await audit(stack, client, set(load.accepted.values()))
        counts["unanswered_then_accepted"] = len(unreachable_while_intake_was_down)
        assert_counts(counts)
        REPORT["fault each service SIGKILLed"] = str(counts)


@pytest.fixture
async def proxied_stack(databases: Databases, tmp_path: Path) -> AsyncIterator[
        tuple[Stack, BrokerProxy]]:
    """A stack on a broker of its own that clients reach only through a TCP proxy, which
    the test may close (the broker unreachable) and open again; the broker keeps its data."""
    broker_port, proxy_port = free_port(), free_port()
    broker = EmbeddedKafka(broker_port, log_path=tmp_path / "broker.log",
                           advertised_port=proxy_port)
    broker.start()
    proxy = BrokerProxy(proxy_port, broker_port)
    proxy.open()
    stack = Stack(databases, broker.bootstrap_servers, tmp_path)
    stack.procs.env["TIERLINE_POLICY_DIR"] = str(due_soon_policies(tmp_path / "policies"))
    try:
        yield stack, proxy
    finally:
        await stack.stop()
        proxy.stop()
        broker.stop()


async def test_broker_unreachable_30s_under_load_loses_nothing(
        proxied_stack: tuple[Stack, BrokerProxy]) -> None:
    stack, proxy = proxied_stack
    stack.start()
    await stack.put_roster(ROOMY_ROSTER)
    async with stack.client(timeout=30) as client:
        load = Load(stack, client)
        await load.steady(0, 8, STEADY_PER_S)
        proxy.close()
        during = asyncio.create_task(load.steady(8, int(OUTAGE_S * STEADY_PER_S), STEADY_PER_S))

        async def broker_down_intake_ready() -> bool:
            r = await client.get(f"{stack.url('intake')}/readyz")
            return r.status_code == 200 and r.json()["checks"]["broker"] is False

        # Intake reports the broker down and stays in its Service: its outbox holds the work.
        await eventually(broker_down_intake_ready, timeout=30,
                         what="intake ready and reporting the broker down")
        await during
        accepted_during = len(load.accepted) - 8
        held = await stack.scalar("SELECT count(*) FROM intake.outbox")
        proxy.open()
        await asyncio.to_thread(stack.wait, "readyz", *SERVICES)
        await load.steady(200, 8, STEADY_PER_S)

        assert load.failed == [] and load.refused == {} and load.unreachable == {}
        assert accepted_during == int(OUTAGE_S * STEADY_PER_S)  # intake kept answering 201
        assert held >= accepted_during  # their events waited in intake's outbox
        counts = await audit(stack, client, set(load.accepted.values()))
        counts["accepted_while_broker_away"] = accepted_during
        counts["outbox_rows_held"] = held
        assert_counts(counts)
        REPORT["fault broker unreachable 30 s"] = str(counts)
