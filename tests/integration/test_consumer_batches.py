"""Each service's real consumer registry over batches, on the real broker and PostgreSQL:
a poison event in a batch of 500 is the only one left out, duplicates are applied once,
a ticket's events applied as one batch end where one-by-one delivery ends, and a batch
costs fewer round trips per event than the same events one at a time."""

from __future__ import annotations

import asyncio
import importlib
import re
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry
from sqlalchemy import Integer, Table, func, select

from tests.helpers import eventually, header, offline_runtime, produce, read_topic
from tests.kpi_stream import DAY, IDS, TICKETS, script
from tests.round_trips import RoundTrips
from tierline_shared.bus.consumer import ConsumerLoop
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    Event,
    ProblemWorkaroundRecorded,
    ReassignmentRequested,
    SlaBreached,
    TicketAssigned,
    TicketCommented,
    TicketCreated,
    TicketEscalated,
    TicketOfferAnswered,
    TicketPriorityChanged,
    TicketQueued,
)
from tierline_shared.bus.kafka import ensure_topics
from tierline_shared.bus.topics import Topics
from tierline_shared.clock import FrozenClock
from tierline_shared.runtime import Runtime
from tierline_shared.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.kafka]

BATCH = 500
POISON_AT = BATCH // 2
MAX_ATTEMPTS = 2
TOO_LONG = "x" * 300  # longer than any String(n) column these values land in


def spec_of(service: str) -> Any:
    return importlib.import_module(f"tierline_{service}.app").SPEC


def created(category: str = "hardware") -> TicketCreated:
    """A ticket of its own requester and words, so that no repeat-contact or problem
    detection ties it to the others."""
    words = uuid.uuid4().hex
    return TicketCreated(ticket_id=uuid.uuid4(), ticket_type="incident",
                         title=f"{words[:8]} {words[8:16]}", category=category, priority="P3",
                         impact="medium", urgency="medium", channel="portal",
                         requester_id=f"u-{words[16:]}", created_at=datetime.now(UTC))


def workaround(by: str = "problem-manager") -> ProblemWorkaroundRecorded:
    return ProblemWorkaroundRecorded(problem_id=uuid.uuid4(), title=f"w-{uuid.uuid4().hex}",
                                     workaround="restart the spooler", by=by,
                                     recorded_at=datetime.now(UTC))


# service: (good event, poison event, topic, the table each applied event leaves a row in,
# the column naming the event's subject there). Every poison is a valid envelope whose
# value the service's own table refuses (a string longer than its column): a data error,
# not an outage.
POISONS: dict[str, tuple[Callable[[], Event], Callable[[], Event],
                         Callable[[Topics], str], str, str]] = {
    "router": (created, lambda: created(category=TOO_LONG), lambda t: t.incidents,
               "tickets", "ticket_id"),
    "sla": (created, lambda: created(category=TOO_LONG), lambda t: t.incidents,
            "history", "ticket_id"),
    "metrics": (created, lambda: created(category=TOO_LONG), lambda t: t.incidents,
                "ticket_log", "ticket_id"),
    "intake": (workaround, lambda: workaround(by=TOO_LONG), lambda t: t.sla,
               "kb_articles", "title"),
}


def subject(event: Event) -> str:
    if isinstance(event, ProblemWorkaroundRecorded):
        return f"Workaround: {event.title}"  # the knowledge article it becomes
    return str(event.subject)


def message(env: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return env.key, env.body(), env.headers()


def envelope(event: Event) -> Envelope:
    return Envelope.wrap(event, source="/test", time=datetime.now(UTC))


def live_settings(database_url: str, kafka: Any, prefix: str) -> Settings:
    return Settings(database_url=database_url, kafka_bootstrap_servers=kafka.bootstrap_servers,
                    topic_prefix=prefix, topic_partitions=1, consumer_max_attempts=MAX_ATTEMPTS,
                    consumer_retry_backoff_s=0.01, log_level="WARNING")


async def start_observed(spec: Any, settings: Settings) -> tuple[Runtime, list[int]]:
    """The service through its public entry point; the sizes of the batches its consumer
    is handed are recorded as they pass."""
    runtime = await Runtime.start(spec, settings)
    consumer = runtime.consumer
    assert consumer is not None
    sizes: list[int] = []
    process = consumer.process

    async def observed(records: Any) -> None:
        sizes.append(len(records))
        await process(records)

    consumer.process = observed  # type: ignore[method-assign]
    return runtime, sizes


async def rows_by(runtime: Runtime, table: Table, column: str, keys: list[str]) -> Counter[str]:
    col = table.c[column]
    async with runtime.sessions() as session:
        found = (await session.execute(
            select(col, func.count()).where(col.in_(
                [uuid.UUID(k) if column == "ticket_id" else k for k in keys])).group_by(col)
        )).all()
    return Counter({str(k): n for k, n in found})


async def inbox_count(runtime: Runtime, ids: list[uuid.UUID]) -> int:
    inbox = runtime.spec.inbox
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(inbox)
                                        .where(inbox.c.event_id.in_(ids))))


@pytest.mark.parametrize("service", list(POISONS))
async def test_one_poison_in_a_batch_of_500_is_the_only_event_left_out(
        service: str, databases: Any, kafka: Any) -> None:
    good, poison, topic_of, table_name, column = POISONS[service]
    spec = spec_of(service)
    prefix = f"p{uuid.uuid4().hex[:10]}"
    settings = live_settings(databases.create(), kafka, prefix)
    topics = Topics(prefix)
    topic = topic_of(topics)
    await ensure_topics(kafka.bootstrap_servers, topics.all(), partitions=1,
                        replication_factor=1)
    events = [good() for _ in range(BATCH)]
    events[POISON_AT] = poison()
    envelopes = [envelope(e) for e in events]
    await produce_all(kafka.bootstrap_servers, topic, envelopes)
    runtime, sizes = await start_observed(spec, settings)
    try:
        applied_ids = [env.id for i, env in enumerate(envelopes) if i != POISON_AT]

        async def all_good_applied() -> bool:
            return await inbox_count(runtime, applied_ids) == BATCH - 1

        await eventually(all_good_applied, timeout=180, what=f"{service}: 499 applied")
        dead = await read_topic(kafka.bootstrap_servers, topics.deadletter,
                                lambda recs: len(recs) >= 1, timeout=60)
        table = runtime.spec.metadata.tables[f"{runtime.spec.inbox.schema}.{table_name}"]
        subjects = [subject(e) for e in events]
        per_subject = await rows_by(runtime, table, column, subjects)
        assert await inbox_count(runtime, [envelopes[POISON_AT].id]) == 0
    finally:
        await runtime.stop()
    print(f"{service}: batches handed to the consumer {sizes}")
    poison_subject = subjects[POISON_AT]
    assert poison_subject not in per_subject
    assert set(per_subject) == set(subjects) - {poison_subject}
    counts = set(per_subject.values())
    assert counts == {min(counts)}  # each event's rows once, the same for all
    assert len(dead) == 1
    record = dead[0]
    assert header(record, "ce_id") == str(envelopes[POISON_AT].id)
    assert header(record, "dlq_consumer") == service
    assert header(record, "dlq_topic") == topic
    assert header(record, "dlq_partition") == "0"
    assert header(record, "dlq_offset") == str(POISON_AT)
    assert header(record, "dlq_attempts") == str(MAX_ATTEMPTS)
    error = header(record, "dlq_error") or ""
    assert error.startswith("failed: ") and "value too long for type character varying" in error
    assert record.value == envelopes[POISON_AT].body()
    assert sizes[0] > 1  # the poison came in a batch with others


async def produce_all(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    """Publish in one go (not one awaited send each), so the backlog sits in few record
    batches and the consumer fetches it together."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=env.key, value=env.body(),
                                       headers=env.headers()) for env in envelopes]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _duplicates(registry: CollectorRegistry, service: str) -> float:
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if (sample.name == "tierline_events_consumed_total"
                    and sample.labels.get("consumer") == service
                    and sample.labels.get("outcome") == "duplicate"):
                total += sample.value
    return total


async def test_duplicates_in_one_batch_and_across_batches_are_applied_once(
        databases: Any, kafka: Any) -> None:
    spec = spec_of("sla")
    prefix = f"d{uuid.uuid4().hex[:10]}"
    settings = live_settings(databases.create(), kafka, prefix)
    topics = Topics(prefix)
    await ensure_topics(kafka.bootstrap_servers, topics.all(), partitions=1,
                        replication_factor=1)
    envelopes = [envelope(created()) for _ in range(100)]
    twice = [env for env in envelopes for _ in (0, 1)]  # each copy right after the first
    await produce_all(kafka.bootstrap_servers, topics.incidents, twice)
    runtime, sizes = await start_observed(spec, settings)
    history = spec.metadata.tables["sla.history"]
    subjects = [str(env.subject) for env in envelopes]
    try:
        async def first_round() -> bool:
            return _duplicates(runtime.registry, "sla") >= len(envelopes)

        await eventually(first_round, timeout=60, what="the in-batch copies counted")
        once = await rows_by(runtime, history, "ticket_id", subjects)
        # The same events again, a batch later, with a new one behind them.
        marker = envelope(created())
        await produce_all(kafka.bootstrap_servers, topics.incidents, [*envelopes, marker])

        async def second_round() -> bool:
            return (_duplicates(runtime.registry, "sla") >= 2 * len(envelopes)
                    and await inbox_count(runtime, [marker.id]) == 1)

        await eventually(second_round, timeout=60, what="the later copies counted")
        again = await rows_by(runtime, history, "ticket_id", subjects)
        inbox = await inbox_count(runtime, [env.id for env in envelopes])
        duplicates = _duplicates(runtime.registry, "sla")
    finally:
        await runtime.stop()
    print(f"sla: batches handed to the consumer {sizes}")
    assert set(once) == set(subjects)
    assert again == once
    assert set(once.values()) == {1}  # one history row for each created ticket
    assert inbox == len(envelopes)
    assert duplicates == 2 * len(envelopes)
    assert any(size > 2 for size in sizes[:1])  # the in-batch copies came together


# --- Per-key order and round trips: records read from the real broker, handed to the
# service's real ConsumerLoop.process either as one batch or one at a time.

def topic_for(topics: Topics, event: Event) -> str:
    if isinstance(event, AgentPresenceChanged):
        return topics.agents
    if isinstance(event, TicketAssigned | TicketQueued | TicketOfferAnswered):
        return topics.routing
    if isinstance(event, TicketEscalated | SlaBreached):
        return topics.sla
    if isinstance(event, ProblemWorkaroundRecorded):
        return topics.sla
    kinds = {IDS[name]: kind[0] for name, kind in TICKETS.items()}
    return topics.for_type(kinds.get(getattr(event, "ticket_id", None), "incident"))


async def broker_records(kafka: Any, events: list[Event]) -> list[ConsumerRecord[Any, Any]]:
    """``events`` published on their topics and read back, in publication order."""
    prefix = f"o{uuid.uuid4().hex[:10]}"
    topics = Topics(prefix)
    await ensure_topics(kafka.bootstrap_servers, topics.all(), partitions=1,
                        replication_factor=1)
    envelopes = [envelope(e) for e in events]
    by_topic: dict[str, list[Envelope]] = {}
    for event, env in zip(events, envelopes, strict=True):
        by_topic.setdefault(topic_for(topics, event), []).append(env)
    records: dict[str, ConsumerRecord[Any, Any]] = {}
    for topic, envs in by_topic.items():
        await produce(kafka.bootstrap_servers, topic, [message(env) for env in envs])
        wanted = len(envs)
        for record in await read_topic(kafka.bootstrap_servers, topic,
                                       lambda recs: len(recs) >= wanted):  # noqa: B023
            records[header(record, "ce_id") or ""] = record
    return [records[str(env.id)] for env in envelopes]


async def service_loop(databases: Any, service: str) -> tuple[Runtime, ConsumerLoop]:
    """The service's runtime on a database of its own (no consumer, relay or jobs running,
    in virtual time) and a consumer loop over its real handler registry."""
    spec = spec_of(service)
    runtime = offline_runtime(spec, databases.create(), FrozenClock(DAY.replace(hour=23)))
    if spec.on_start is not None:
        await spec.on_start(runtime)
    loop = ConsumerLoop(
        name=service, group_id=f"unused.{service}", topics=[], handlers=spec.handlers(runtime),
        transaction=runtime.transaction, inbox=spec.inbox, bootstrap_servers="unused:9",
        deadletter_topic="unused", all_topics=[], partitions=1, replication_factor=1,
        registry=CollectorRegistry(), max_attempts=1, retry_backoff_s=0)
    return runtime, loop


UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def table_rows(runtime: Runtime, known: set[str]) -> dict[str, list[str]]:
    """Every table of the service but its inbox, rows sorted, surrogate ids left out and ids
    the service generated (not one of ``known``) masked; the outbox as (topic, key, body);
    metrics' counter totals but those at 0."""

    def masked(text: str) -> str:
        return UUID_TEXT.sub(lambda m: m[0] if m[0] in known else "<generated>", text)

    out: dict[str, list[str]] = {}
    async with runtime.sessions() as session:
        for table in runtime.spec.metadata.sorted_tables:
            if table.name == runtime.spec.inbox.name:
                continue
            if table.name == runtime.spec.outbox.name:
                cols = [table.c.topic, table.c.key, table.c.value]
            else:
                cols = [_rank_in_ticket(table, c) if _counts_arrivals(c) else c
                        for c in table.c if c.name != "id"]
                cols = [c for c in cols if c is not None]
            query = select(*cols)
            if table.name == "counter_totals":
                # A total back at 0 (a backlog a ticket entered and left) is written one
                # event at a time, not by a batch that folds both changes into none.
                query = query.where(table.c.value != 0)
            rows = (await session.execute(query)).all()
            out[table.name] = sorted(masked(repr(tuple(r))) for r in rows)
    return out


def _counts_arrivals(column: Any) -> bool:
    """An identity or serial column: its values depend on the order across tickets."""
    return column.identity is not None or (column.primary_key
                                           and isinstance(column.type, Integer))


def _rank_in_ticket(table: Table, column: Any) -> Any:
    """A ticket's rows in arrival order (what the per-key order promises), or nothing to
    compare for rows of no ticket."""
    if "ticket_id" not in table.c:
        return None
    return func.row_number().over(partition_by=table.c.ticket_id,
                                  order_by=column).label(column.name)


LIFECYCLE_SERVICES = ("router", "sla", "metrics")


def handled(loop: ConsumerLoop, events: list[Event]) -> list[Event]:
    return [e for e in events if loop._handlers.handles(e.event_type)]


async def batched_and_sequential(databases: Any, service: str, records: list[Any]) -> tuple[
        dict[str, list[str]], dict[str, list[str]]]:
    """The service's tables after ``records`` as one batch, and after them one at a time,
    each on a database of its own."""
    batch_rt, batch_loop = await service_loop(databases, service)
    seq_rt, seq_loop = await service_loop(databases, service)
    try:
        await batch_loop.process(records)
        for record in records:
            await seq_loop.process([record])
        known = {str(i) for i in IDS.values()} | {header(r, "ce_id") or "" for r in records}
        batched = await table_rows(batch_rt, known)
        sequential = await table_rows(seq_rt, known)
    finally:
        await batch_rt.engine.dispose()
        await seq_rt.engine.dispose()
    return batched, sequential


@pytest.mark.parametrize("service", LIFECYCLE_SERVICES)
async def test_a_batch_ends_where_one_by_one_delivery_ends(
        service: str, databases: Any, kafka: Any) -> None:
    """The scripted day's tickets (created, assigned, status changes, escalations, surveys),
    interleaved across tickets as they happened: once as one batch, once one at a time."""
    records = await broker_records(kafka, script())
    batched, sequential = await batched_and_sequential(databases, service, records)
    changed = {name: len(rows) for name, rows in sequential.items() if rows}
    print(f"{service}: rows per table after {len(records)} events: {changed}")
    assert sum(changed.values()) > 0
    for name in sequential:
        assert batched[name] == sequential[name], name


def sla_day() -> list[Event]:
    """What sla's clocks do most with, on the scripted day's tickets: pauses and resumes,
    priority changes, customers' and agents' comments, a reassignment to a higher tier, a
    ticket created twice, and status changes that arrive later than ones dated after them."""
    from tests.kpi_stream import Script, at

    s = Script()
    for name in ("T1", "T2", "T4", "T9"):
        s.create(name)
    s.create("T1")  # a desk that sent it twice
    s.assign("T1", "a1", "09:01")
    s.move("T1", "in_progress", "09:10")
    s.move("T1", "pending_customer", "09:20")
    s.move("T2", "acknowledged", "09:30")
    s.events.append(TicketCommented(ticket_id=IDS["T1"], author="u1", public=True,
                                    from_requester=True, text="This is useless, still broken",
                                    commented_at=at("09:40")))
    s.move("T1", "in_progress", "09:35")  # sent after the comment, dated before it
    s.events.append(TicketPriorityChanged(ticket_id=IDS["T2"], from_priority="P3",
                                          to_priority="P2", by="lead", changed_at=at("10:00")))
    s.events.append(TicketCommented(ticket_id=IDS["T2"], author="a1", public=True,
                                    text="Looking into it", commented_at=at("10:05")))
    s.events.append(ReassignmentRequested(ticket_id=IDS["T4"], requested_by="a1",
                                          reason="needs hardware team", to_tier=2,
                                          requested_at=at("11:10")))
    s.move("T4", "acknowledged", "11:05")
    s.move("T2", "pending_customer", "10:30")
    s.move("T2", "resolved", "11:00")
    s.move("T2", "reopened", "12:00")
    s.events.append(TicketPriorityChanged(ticket_id=IDS["T9"], from_priority="P1",
                                          to_priority="P2", by="lead", changed_at=at("16:05")))
    s.move("T9", "in_progress", "16:02")
    s.move("T1", "resolved", "10:30")
    s.move("T1", "closed", "11:30")
    return s.events


async def test_sla_clocks_of_a_batch_end_as_one_event_at_a_time(databases: Any,
                                                                kafka: Any) -> None:
    """sla keeps a run's clocks in memory and writes them once (``ClockRun``): the clocks,
    their events, their timers, history, escalations and outbox end exactly as when each
    event is its own transaction, for the clock moves the scripted day lacks."""
    records = await broker_records(kafka, sla_day())
    batched, sequential = await batched_and_sequential(databases, "sla", records)
    for table in ("clocks", "clock_events", "timers", "history", "escalations"):
        assert sequential[table], table  # the day moved each of them
    for kind in ("pause", "resume", "priority", "restart", "stop", "reopen"):
        assert any(f"'{kind}'" in row for row in sequential["clock_events"]), kind
    for name in sequential:
        assert batched[name] == sequential[name], name


ROUND_TRIP_SERVICES = ("router", "sla", "metrics", "intake")


def day_for(service: str) -> list[Event]:
    events = script()
    if service == "intake":
        events += [workaround() for _ in range(10)]
    return events


@pytest.mark.parametrize("service", ROUND_TRIP_SERVICES)
async def test_a_batch_costs_fewer_round_trips_per_event_than_one_at_a_time(
        service: str, databases: Any, kafka: Any) -> None:
    records = await broker_records(kafka, day_for(service))
    batch_rt, batch_loop = await service_loop(databases, service)
    seq_rt, seq_loop = await service_loop(databases, service)
    applied = len(handled(batch_loop, [r_event(r) for r in records]))
    assert applied > 0
    try:
        batch = RoundTrips().attach(batch_rt.engine)
        await batch_loop.process(records)
        seq = RoundTrips().attach(seq_rt.engine)
        for record in records:
            await seq_loop.process([record])
    finally:
        await batch_rt.engine.dispose()
        await seq_rt.engine.dispose()
    per_batch, per_one = batch.total / applied, seq.total / applied
    print(f"{service}: {applied} events; round trips per event {per_one:.2f} one at a time "
          f"({seq.counts}), {per_batch:.2f} in one batch ({batch.counts})")
    from tests.reports import REPORT

    REPORT[f"round trips per event, {service}"] = (
        f"{per_one:.2f} one at a time, {per_batch:.2f} in one batch of {applied}")
    assert per_batch < per_one
    # At least the fixed cost of each transaction the batch saved (BEGIN, the inbox
    # statement, COMMIT) is gone; what is left is what the handlers send per event.
    assert seq.total - batch.total >= 3 * (applied - 1)
    assert batch.counts["commit"] == 1
    assert seq.counts["commit"] == applied


def r_event(record: ConsumerRecord[Any, Any]) -> Event:
    from tierline_shared.bus.envelope import decode

    return decode(list(record.headers or ()), record.value).event



# --- A conflict with another transaction is no poison.

DEADLOCK = "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'deadlock_detected'; END $$"


@pytest.mark.parametrize("events, conflicts", [(10, 1), (1, MAX_ATTEMPTS)])
async def test_a_deadlock_is_tried_again_not_split_or_dead_lettered(
        events: int, conflicts: int, databases: Any, kafka: Any) -> None:
    """sla's real registry behind a handler whose first ``conflicts`` calls PostgreSQL aborts
    with a real deadlock error: the batch is applied whole on a later try, without being
    split and without using up an event's attempts (a lone event would otherwise be
    dead-lettered after MAX_ATTEMPTS)."""
    from sqlalchemy import text

    from tierline_shared.bus.handlers import Handlers

    runtime, real = await service_loop(databases, "sla")
    calls: list[int] = []

    async def conflicting(uow: Any, run: Any) -> None:
        calls.append(len(run))
        if len(calls) <= conflicts:
            await uow.session.execute(text(DEADLOCK))
        await real._handlers.apply(uow, run)

    loop = ConsumerLoop(
        name="sla", group_id="unused.sla", topics=[],
        handlers=Handlers().batch([TicketCreated], conflicting),
        transaction=runtime.transaction, inbox=runtime.spec.inbox,
        bootstrap_servers="unused:9", deadletter_topic="unused", all_topics=[], partitions=1,
        replication_factor=1, registry=CollectorRegistry(), max_attempts=MAX_ATTEMPTS,
        retry_backoff_s=0.01)
    records = await broker_records(kafka, [created() for _ in range(events)])
    try:
        await loop.process(records)
        tickets = runtime.spec.metadata.tables["sla.tickets"]
        async with runtime.sessions() as session:
            applied = await session.scalar(select(func.count()).select_from(tickets))
    finally:
        await runtime.engine.dispose()
    assert applied == events
    assert calls == [events] * (conflicts + 1)  # the whole batch each time, never halves


async def test_start_up_objects_are_frozen_out_of_the_cyclic_collector(
        databases: Any, kafka: Any) -> None:
    """A service freezes what its start-up built (a full collection over it stalled every
    request ~60 ms); objects made later are still collected, and stopping unfreezes."""
    import gc
    import weakref

    settings = live_settings(databases.create(), kafka, f"g{uuid.uuid4().hex[:10]}")
    runtime = await Runtime.start(spec_of("router"), settings)
    try:
        assert gc.get_freeze_count() > 10_000

        class Node:
            pass

        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        ref = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert ref() is None  # made after start-up: collected
    finally:
        await runtime.stop()
    assert gc.get_freeze_count() == 0
