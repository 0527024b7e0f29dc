"""Voice of the customer on a real PostgreSQL: contacts folded from events, a spike found
against the trailing baseline, stored and published once, and reported."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Databases
from tests.helpers import attach, deliver, offline_runtime, outbox_events
from tierline_metrics.app import SPEC, create_app
from tierline_metrics.reports.voc_job import check
from tierline_shared.bus.events import TicketCreated, TicketEscalated
from tierline_shared.clock import FrozenClock

pytestmark = [pytest.mark.db]

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
VOC = "tierline.metrics.voc_signal.v1"


@pytest.fixture
async def runtime(databases: Databases) -> AsyncIterator[Any]:
    runtime = offline_runtime(SPEC, databases.create(), FrozenClock(NOW))
    await SPEC.on_start(runtime)  # the policy the job and the report read
    try:
        yield runtime
    finally:
        await runtime.engine.dispose()


async def contact(runtime: Any, days_ago: int, category: str, sub: str, title: str,
                  service: str | None = None, deflected: bool = False) -> uuid.UUID:
    tid = uuid.uuid4()
    await deliver(runtime, TicketCreated(
        ticket_id=tid, ticket_type="incident", title=title, category=category, subcategory=sub,
        priority="P3", impact="low", urgency="low", channel="chat", requester_id="u",
        service=service, deflected=deflected,
        created_at=NOW - timedelta(days=days_ago, hours=1)))
    return tid


async def test_a_spike_is_stored_published_once_and_reported(runtime: Any) -> None:
    for days_ago in range(1, 15):  # two VPN contacts a day for a fortnight
        for _ in range(2):
            await contact(runtime, days_ago, "network", "vpn", "VPN drops")
    today = [await contact(runtime, 0, "network", "vpn", "VPN drops", service="vpn-gw")
             for _ in range(11)]
    await contact(runtime, 0, "network", "vpn", "VPN drops", deflected=True)  # not counted
    for tid in today[:6]:  # escalations cluster on it too (none in the baseline)
        await deliver(runtime, TicketEscalated(
            ticket_id=tid, kind="functional", level=1, trigger="time", rule="r", reason="slow",
            escalated_at=NOW))

    first = await check(runtime)
    again = await check(runtime)
    assert sorted((s.kind, s.dimension, s.key, s.observed) for s in first) == [
        ("contact_spike", "category", "network", 11),
        ("contact_spike", "product", "vpn-gw", 11),
        ("contact_spike", "subcategory", "network/vpn", 11),
        ("escalation_cluster", "subcategory", "network/vpn", 6)]
    assert again == []
    published = [body for kind, body in await outbox_events(runtime) if kind == VOC]
    assert len(published) == 4
    spike = next(b for b in published if b["dimension"] == "subcategory"
                 and b["kind"] == "contact_spike")
    assert (spike["day"], spike["observed"], spike["expected"], spike["baseline_days"]) == (
        "2026-11-20", 11, round(28.5 / 14, 4), 14)
    assert spike["p_value"] < 0.001

    app = create_app(runtime.settings)
    key = attach(app, runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics",
                                 headers={"X-API-Key": key}) as client:
        report = (await client.get("/v1/reports/voc",
                                   params={"from": "2026-11-20", "to": "2026-11-21"})).json()
        table = await client.get("/v1/reports/voc", params={
            "from": "2026-11-19", "to": "2026-11-21", "format": "csv"})
        bad = await client.get("/v1/reports/voc", params={"from": "2026-11-21",
                                                          "to": "2026-11-20"})
        none = (await client.get("/v1/reports/voc",
                                 params={"from": "2026-11-19", "to": "2026-11-20"})).json()
    assert [(r["kind"], r["dimension"], r["key"]) for r in report["signals"]] == [
        ("contact_spike", "category", "network"), ("contact_spike", "product", "vpn-gw"),
        ("contact_spike", "subcategory", "network/vpn"),
        ("escalation_cluster", "subcategory", "network/vpn")]
    assert len(list(csv.DictReader(io.StringIO(table.text)))) == 4
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "query.to"
    assert none == {"signals": []}


async def test_ordinary_days_raise_nothing(runtime: Any) -> None:
    for days_ago in range(0, 15):
        for _ in range(3):
            await contact(runtime, days_ago, "access", "password", "How do I reset my password")
    assert await check(runtime) == []
