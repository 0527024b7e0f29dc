"""Faults with real processes, then a count: PostgreSQL away for 30 seconds under a steady
load, and a burst of ten times the steady rate. Each test prints its counts (run pytest with
``-s`` to see them) and asserts that every accepted ticket was stored and assigned exactly
once, every due SLA event fired exactly once and metrics counted every ticket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Databases
from tests.e2e.conftest import Stack
from tests.e2e.faults import Load, assert_counts, audit, due_soon_policies
from tests.helpers import eventually
from tests.reports import REPORT
from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

STEADY_PER_S = 4.0
OUTAGE_S = 30


@pytest.fixture
async def pg_stack(kafka: EmbeddedKafka, tmp_path: Path) -> AsyncIterator[tuple[Stack,
                                                                                EmbeddedPostgres]]:
    """A stack on a PostgreSQL server of its own, which the test may stop and start."""
    pg = EmbeddedPostgres(tmp_path / "pgdata", free_port(), fast_unsafe=True)
    pg.start()
    stack = Stack(Databases(pg.url()), kafka.bootstrap_servers, tmp_path)
    stack.procs.env["TIERLINE_POLICY_DIR"] = str(due_soon_policies(tmp_path / "policies"))
    try:
        yield stack, pg
    finally:
        await stack.stop()
        pg.remove()


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
        await load.retry_refused()  # the client retries what was refused, same key

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
        assert load.failed == [] and load.refused == {}
        counts = await audit(stack, client, set(load.accepted.values()))
        assert counts["accepted"] == 96
        assert_counts(counts)
        REPORT["fault burst 10x"] = str(counts)
