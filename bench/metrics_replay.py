"""Metrics' replay rate: ``tierline metrics rebuild`` (empty the read models, replay every
topic metrics consumes, fold it and copy it in) in events per second, as it runs by default
(split over worker processes by partition) and in one process (``--workers 1``), side by
side in one run with the ceilings of one bare aiokafka consumer reading the same messages
from the same broker: reading only, and reading and parsing each into its Envelope
(``decode``, the same validation the rebuild does).

The events are what a desk's day produces, built with the event models and published as
intake, router and sla publish them: per ticket created, clock started, assigned (or queued
first), status changes to closed, a survey answer; and agents' presence changes. Rounds
alternate ceiling and rebuild. Writes bench/results.json and the README table between the
``bench:replay`` markers."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake_throughput import machine  # noqa: E402
from bench.report import write_results  # noqa: E402
from tierline_shared.bus.envelope import Envelope, decode  # noqa: E402
from tierline_shared.bus.events import (  # noqa: E402
    AgentPresenceChanged,
    Event,
    SlaClockStarted,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketQueued,
    TicketStatusChanged,
)
from tierline_shared.bus.kafka import ensure_topics  # noqa: E402
from tierline_shared.bus.topics import Topics  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
ROUNDS = 2
PREFIX = "bench"
CATEGORIES = ["network", "access", "hardware", "software", "email"]
LIFECYCLE = [("new", "acknowledged"), ("acknowledged", "in_progress"),
             ("in_progress", "resolved"), ("resolved", "closed")]


def day_of_events(count: int, seed: int = 9) -> list[tuple[str, Envelope]]:
    """``count`` (topic, envelope) pairs in the order the services would publish them."""
    rng = random.Random(seed)
    topics = Topics(PREFIX)
    t0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    out: list[tuple[str, Envelope]] = []

    def add(topic: str, event: Event, at: datetime, source: str) -> None:
        out.append((topic, Envelope(id=uuid.UUID(int=rng.getrandbits(128), version=4),
                                    source=source, time=at, event=event)))

    n = 0
    while len(out) < count:
        n += 1
        at = t0 + timedelta(seconds=n * 7)
        tid = uuid.UUID(int=rng.getrandbits(128), version=4)
        kind = "incident" if rng.random() < 0.7 else "service_request"
        topic = topics.for_type(kind)
        priority = rng.choice(["P2", "P3", "P3", "P4"])
        category, channel = rng.choice(CATEGORIES), rng.choice(["portal", "email", "phone"])
        agent = f"agent-{rng.randrange(40)}"
        add(topic, TicketCreated(ticket_id=tid, ticket_type=kind, title=f"Ticket {n}",
                                 category=category, priority=priority, impact="medium",
                                 urgency="medium", channel=channel, requester_id=f"u-{n % 500}",
                                 created_at=at), at, "tierline/intake")
        add(topics.sla, SlaClockStarted(ticket_id=tid, clock="first_response", priority=priority,
                                        started_at=at, due_at=at + timedelta(hours=1),
                                        target_seconds=3600), at, "tierline/sla")
        if rng.random() < 0.3:
            add(topics.routing, TicketQueued(ticket_id=tid, priority=priority, category=category,
                                             queued_at=at, reason="no agent free"),
                at, "tierline/router")
        assigned = at + timedelta(seconds=rng.randrange(5, 600))
        add(topics.routing, TicketAssigned(ticket_id=tid, agent_id=agent, agent_tier=1,
                                           priority=priority, category=category, channel=channel,
                                           assigned_at=assigned), assigned, "tierline/router")
        if n % 10 == 0:
            add(topics.agents, AgentPresenceChanged(agent_id=agent, presence="busy",
                                                    previous="available", changed_at=assigned),
                assigned, "tierline/router")
        changed = assigned
        for before, after in LIFECYCLE:
            changed += timedelta(seconds=rng.randrange(60, 3600))
            add(topic, TicketStatusChanged(
                ticket_id=tid, ticket_type=kind, from_status=before, to_status=after,
                actor=agent, priority=priority, category=category, channel=channel,
                resolution_notes="fixed" if after == "resolved" else None,
                closed_by="customer_confirmation" if after == "closed" else None,
                changed_at=changed), changed, "tierline/intake")
        if rng.random() < 0.4:
            add(topic, SurveyAnswered(ticket_id=tid, kind="csat", score=rng.randint(1, 5),
                                      answered_at=changed), changed, "tierline/intake")
    return out[:count]


async def publish(bootstrap: str, events: list[tuple[str, Envelope]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        t0 = time.perf_counter()
        futures = [await producer.send(topic, key=env.key, value=env.body(),
                                       headers=env.headers()) for topic, env in events]
        await asyncio.gather(*futures)
        return time.perf_counter() - t0
    finally:
        await producer.stop()


async def bare_consumer(bootstrap: str, topics: list[str], parse: bool) -> dict[str, Any]:
    """Read every partition from its beginning to its end (and ``decode`` each message)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        t0 = time.perf_counter()
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        count = 0
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batch.values():
                for record in records:
                    if record.offset >= ends[record_tp(record)]:
                        continue  # as the rebuild: only what was there when it started
                    if parse:
                        decode(list(record.headers or ()), record.value)
                    count += 1
        elapsed = time.perf_counter() - t0
    finally:
        await consumer.stop()
    return {"events": count, "seconds": round(elapsed, 3), "per_s": round(count / elapsed)}


def record_tp(record: Any) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


async def settled(bootstrap: str, topics: list[str], expected: int,
                  timeout_s: float = 5) -> int:
    """How many events the broker's end offsets count, once they count every published
    event or after ``timeout_s``: the embedded broker answers ListOffsets(latest) with ends
    short of acknowledged writes (by up to the last batch of each partition), and a replay
    stops at the ends it is told when it starts, so both sides replay only those."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        deadline = time.monotonic() + timeout_s
        while True:
            total = sum((await consumer.end_offsets(partitions)).values())
            if total >= expected or time.monotonic() > deadline:
                return total
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


def rebuild_once(settings: Any, workers: int | None = None) -> dict[str, Any]:
    from tierline_metrics.events.rebuild import rebuild

    t0 = time.perf_counter()
    outcome = asyncio.run(rebuild(settings, workers=workers))
    elapsed = time.perf_counter() - t0
    if outcome.failed:
        raise SystemExit(f"rebuild failed on {len(outcome.failed)}: {outcome.failed[:3]}")
    return {"events": outcome.applied + outcome.skipped, "applied": outcome.applied,
            "seconds": round(elapsed, 3),
            "per_s": round((outcome.applied + outcome.skipped) / elapsed)}


def main() -> None:
    from tierline_metrics.app import SPEC
    from tierline_metrics.events.split import default_workers
    from tierline_shared.devstack import create_database
    from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
    from tierline_shared.migrate import upgrade
    from tierline_shared.settings import Settings

    events = day_of_events(EVENTS)
    kinds: dict[str, int] = {}
    for _, env in events:
        kinds[env.type] = kinds.get(env.type, 0) + 1
    runs: dict[str, list[dict[str, Any]]] = {"read": [], "parse": [], "rebuild": [],
                                             "rebuild_one": []}
    with tempfile.TemporaryDirectory(prefix="tierline-replay-bench-") as tmp:
        # fsync and synchronous_commit on, as in production
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port(), fast_unsafe=False)
        kafka = EmbeddedKafka(free_port(), log_path=Path(tmp) / "broker.log")
        pg.start()
        kafka.start()
        try:
            asyncio.run(create_database(pg.url(), "replaybench"))
            url = pg.url().rsplit("/", 1)[0] + "/replaybench"
            upgrade(url, services=("metrics",))
            settings = Settings(database_url=url, kafka_bootstrap_servers=kafka.bootstrap_servers,
                                topic_prefix=PREFIX, log_level="WARNING")
            topics = SPEC.consumes(Topics(PREFIX))
            asyncio.run(ensure_topics(kafka.bootstrap_servers, Topics(PREFIX).all(),
                                      partitions=settings.topic_partitions,
                                      replication_factor=settings.topic_replication_factor))
            published_s = asyncio.run(publish(kafka.bootstrap_servers, events))
            t_pub = time.perf_counter()
            visible = asyncio.run(settled(kafka.bootstrap_servers, topics, len(events)))
            print(f"published {len(events)} events in {published_s:.1f} s; the broker's end "
                  f"offsets count {visible} of them after {time.perf_counter() - t_pub:.1f} s more",
                  flush=True)
            for r in range(ROUNDS):
                runs["read"].append(asyncio.run(bare_consumer(kafka.bootstrap_servers, topics,
                                                              parse=False)))
                runs["parse"].append(asyncio.run(bare_consumer(kafka.bootstrap_servers, topics,
                                                               parse=True)))
                runs["rebuild"].append(rebuild_once(settings))
                runs["rebuild_one"].append(rebuild_once(settings, workers=1))
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]['per_s']}/s"
                                                     for k, v in runs.items()), flush=True)
        finally:
            kafka.stop()
            pg.remove()
    results = {k: {"events": v[0]["events"],
                   "per_s": round(statistics.median(r["per_s"] for r in v)),
                   "rounds": [r["per_s"] for r in v]} for k, v in runs.items()}
    report = {"events": len(events), "visible_at_end_offsets": visible, "by_type": kinds,
              "partitions": settings.topic_partitions,
              "rounds": ROUNDS, "machine": machine(), **results,
              "ratio_rebuild_to_parse": round(results["rebuild"]["per_s"]
                                              / results["parse"]["per_s"], 4)}
    mix = ", ".join(f"{n:,} {t.split('.')[-2]}" for t, n in sorted(kinds.items()))
    lines = [f"Measured side by side in one run on {machine()}; {len(events):,} events "
             f"published ({mix}), {visible:,} within the broker's end offsets "
             f"on {len(topics)} topics of {settings.topic_partitions} partitions, median of "
             f"{ROUNDS} alternating rounds, PostgreSQL with fsync and synchronous_commit on "
             "(`make bench`):", "",
             "| replay | events | events per second | rebuild / this |",
             "| --- | ---: | ---: | ---: |"]
    labels = {"rebuild": "`tierline metrics rebuild` into empty read models (default: "
                         f"{default_workers(os.cpu_count(), settings.topic_partitions)} "
                         "worker processes)",
              "rebuild_one": "`tierline metrics rebuild --workers 1` (one process)",
              "parse": "ceiling: bare aiokafka consumer, each message decoded into its Envelope",
              "read": "ceiling: bare aiokafka consumer, reading only"}
    for key in ("rebuild", "rebuild_one", "parse", "read"):
        r = results[key]
        lines.append(f"| {labels[key]} | {r['events']:,} | {r['per_s']:,} | "
                     f"{results['rebuild']['per_s'] / r['per_s']:.3f}x |")
    table = "\n".join(lines)
    print(table)
    write_results("metrics_replay", report, table, "replay")


if __name__ == "__main__":
    main()
