"""Metrics' batch fold on the real broker and database: the live consumer (batches as they
come) and the rebuild (the whole history folded and copied in) build the same read models,
table by table, and the fold gives the same rows whatever the batch size."""

from __future__ import annotations

import importlib.util
import random
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import Databases
from tests.helpers import eventually
from tests.metrics_stream import envelopes, stream
from tierline_metrics import models
from tierline_metrics.app import SPEC
from tierline_metrics.events import split
from tierline_metrics.events.rebuild import rebuild
from tierline_shared.audit import Actor
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    MajorIncidentEvent,
    ProblemEvent,
    SlaBreached,
    SlaClockStarted,
    SlaWarning,
    TicketAssigned,
    TicketEscalated,
    TicketOfferAnswered,
    TicketQueued,
)
from tierline_shared.bus.handlers import Delivered
from tierline_shared.bus.kafka import make_producer
from tierline_shared.bus.topics import Topics
from tierline_shared.clock import FrozenClock
from tierline_shared.db import make_engine, make_sessionmaker
from tierline_shared.embedded import EmbeddedKafka
from tierline_shared.runtime import Runtime
from tierline_shared.settings import Settings
from tierline_shared.unit_of_work import transaction

pytestmark = [pytest.mark.db, pytest.mark.kafka]

TABLES = ("ticket_facts", "sla_events", "escalations", "major_incidents", "problems",
          "presence_log")


def topic_of(topics: Topics, envelope: Envelope, kinds: dict[Any, str]) -> str:
    event = envelope.event
    if isinstance(event, AgentPresenceChanged):
        return topics.agents
    if isinstance(event, TicketAssigned | TicketQueued | TicketOfferAnswered):
        return topics.routing
    if isinstance(event, TicketEscalated | SlaBreached | SlaWarning | SlaClockStarted
                  | MajorIncidentEvent | ProblemEvent):
        return topics.sla
    return topics.for_type(kinds[event.ticket_id])  # type: ignore[attr-defined]


async def snapshot(url: str) -> dict[str, Any]:
    """Every read model as sorted rows; the log in its order per ticket (seq), without seq
    itself, and as a set ("ticket_log_rows")."""
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        out: dict[str, Any] = {}
        for table in TABLES:
            rows = await conn.fetch(f"SELECT * FROM metrics.{table}")
            out[table] = sorted(tuple(sorted((k, repr(v)) for k, v in dict(r).items()))
                                for r in rows)
        out["ticket_log"] = [tuple(r) for r in await conn.fetch(
            "SELECT event_id, ticket_id, event_type, at, body FROM metrics.ticket_log "
            "ORDER BY ticket_id, seq")]
        out["ticket_log_rows"] = sorted(out["ticket_log"])
        out["inbox"] = sorted(tuple(r) for r in await conn.fetch(
            "SELECT event_id, event_type, topic FROM metrics.processed_events"))
        out["counter_totals"] = await totals(conn)
        out["indexes"] = sorted(tuple(r) for r in await conn.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'metrics'"))
        return out
    finally:
        await conn.close()


async def totals(conn: asyncpg.Connection) -> list[tuple[Any, ...]]:
    """The counter totals but those at 0 (a total that went back to 0 live, such as a
    priority's backlog, is not written by a rebuild, which starts from nothing)."""
    return [tuple(r) for r in await conn.fetch(
        "SELECT name, a, b, value FROM metrics.counter_totals WHERE value <> 0 "
        "ORDER BY name, a, b")]


async def grouped(url: str) -> list[tuple[Any, ...]]:
    """The counter totals as the GROUP BYs over the read models give them (the migration
    that introduced the totals starts them so), computed and rolled back."""
    path = (Path(models.__file__).parent / "migrations" / "versions"
            / "20261130_07_counter_totals.py")
    spec = importlib.util.spec_from_file_location("counter_totals_migration", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        work = conn.transaction()
        await work.start()
        await conn.execute("DELETE FROM metrics.counter_totals")
        await conn.execute(migration.backfill())
        out = await totals(conn)
        await work.rollback()
        return out
    finally:
        await conn.close()


async def test_rebuild_equals_live_table_by_table(databases: Databases, kafka: EmbeddedKafka,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(database_url=databases.create(), environment="test",
                        kafka_bootstrap_servers=kafka.bootstrap_servers,
                        topic_prefix=f"fold{uuid.uuid4().hex[:10]}")
    topics = Topics(settings.topic_prefix)
    events = stream(300)
    kinds = {e.ticket_id: e.ticket_type for e in events  # type: ignore[attr-defined]
             if type(e).__name__ == "TicketCreated"}
    sent = envelopes(events)
    runtime = await Runtime.start(SPEC, settings, FrozenClock(sent[0].time))
    producer = make_producer(kafka.bootstrap_servers)
    await producer.start()
    try:
        for env in sent + sent[:20]:  # twenty delivered twice
            await producer.send(topic_of(topics, env, kinds), key=env.key, value=env.body(),
                                headers=env.headers())
        await producer.flush()

        async def all_applied() -> bool:
            async with runtime.sessions() as session:
                from sqlalchemy import func, select
                return await session.scalar(
                    select(func.count()).select_from(models.inbox)) == len(sent)

        await eventually(all_applied, timeout=120, what="the stream applied live")
    finally:
        await producer.stop()
        await runtime.stop()
    live = await snapshot(settings.database_url)
    assert len(live["ticket_facts"]) == 300
    assert len(live["ticket_log"]) > 2000
    # What each batch added to the counters is what GROUP BYs over the tables count.
    assert live["counter_totals"] == await grouped(settings.database_url)
    assert len(live["counter_totals"]) > 50

    # Topics are not ordered against each other, so a ticket's log may interleave its
    # topics differently live and in the replay: the rows are the same, not their order.
    del live["ticket_log"]
    # Split over worker processes by partition (three: one per partition; two, copying
    # the log and inbox in segments of about 4 kB), then in one.
    for workers in (None, 2, 1):
        monkeypatch.setattr(split, "_SEGMENT", 4096 if workers == 2 else split._SEGMENT)
        outcome = await rebuild(settings, workers=workers)
        assert (outcome.applied, outcome.failed) == (len(sent), []), workers
        rebuilt = await snapshot(settings.database_url)
        del rebuilt["ticket_log"]
        for table in live:
            assert rebuilt[table] == live[table], (workers, table)

    # A worker that fails (here: out of time before its first fetch) fails the rebuild,
    # and its transaction leaves every read model as it was.
    with pytest.raises(TimeoutError, match="replay not finished"):
        await rebuild(settings, timeout_s=0, workers=3)
    after = await snapshot(settings.database_url)
    del after["ticket_log"]
    assert after == live


async def apply_in_runs(url: str, sent: Sequence[Envelope], sizes: Sequence[int]) -> None:
    engine = make_engine(url, pool_size=1)
    handlers = SPEC.handlers(None)
    start, n = 0, 0
    try:
        while start < len(sent):
            run = sent[start:start + sizes[n % len(sizes)]]
            start, n = start + len(run), n + 1
            async with transaction(make_sessionmaker(engine), outbox=models.outbox,
                                   actor=Actor.system("metrics")) as uow:
                await handlers.apply(uow, [Delivered(e, "t", e.body()) for e in run])
    finally:
        await engine.dispose()


async def test_the_fold_is_the_same_in_batches_and_one_event_at_a_time(
        databases: Databases) -> None:
    sent = envelopes(stream(150, seed=11))
    one, many = databases.create(), databases.create()
    await apply_in_runs(one, sent, [1])
    rng = random.Random(3)
    await apply_in_runs(many, sent, [rng.choice([2, 9, 64, 500]) for _ in range(50)])
    by_one, by_many = await snapshot(one), await snapshot(many)
    for table in TABLES + ("ticket_log", "counter_totals"):
        assert by_many[table] == by_one[table], table
    assert len(by_one["major_incidents"]) == 3 and len(by_one["escalations"]) > 50


async def test_a_row_the_copy_refuses_falls_back_to_batches_and_leaves_out_only_it(
        databases: Databases, kafka: EmbeddedKafka) -> None:
    settings = Settings(database_url=databases.create(), environment="test",
                        kafka_bootstrap_servers=kafka.bootstrap_servers,
                        topic_prefix=f"fall{uuid.uuid4().hex[:10]}")
    topics = Topics(settings.topic_prefix)
    events = stream(20, seed=5)
    kinds = {e.ticket_id: e.ticket_type for e in events  # type: ignore[attr-defined]
             if type(e).__name__ == "TicketCreated"}
    sent = envelopes(events)
    poison = next(env for env in sent if type(env.event).__name__ == "TicketCreated")
    poisoned = Envelope(id=poison.id, source=poison.source, time=poison.time,
                        event=poison.event.model_copy(update={"category": "x" * 300}))
    sent = [poisoned if env.id == poison.id else env for env in sent]
    producer = make_producer(kafka.bootstrap_servers)
    await producer.start()
    try:
        for env in sent:
            await producer.send(topic_of(topics, env, kinds), key=env.key, value=env.body(),
                                headers=env.headers())
        await producer.flush()
    finally:
        await producer.stop()
    outcome = await rebuild(settings)
    assert outcome.applied == len(sent) - 1
    assert len(outcome.failed) == 1 and "value too long" in outcome.failed[0]
    rows = await snapshot(settings.database_url)
    assert len(rows["inbox"]) == len(sent) - 1
    assert poison.id not in {row[0] for row in rows["inbox"]}
