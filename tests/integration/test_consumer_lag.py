"""Consumer lag from committed and end offsets, read on a timer, cleared with the assignment."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from tests.e2e.conftest import counter
from tests.helpers import eventually, produce
from tierline_shared.bus.kafka import ensure_topics, make_consumer, make_producer
from tierline_shared.bus.lag import ConsumerLag
from tierline_shared.embedded import EmbeddedKafka

pytestmark = [pytest.mark.kafka]


def lag_of(registry: CollectorRegistry, topic: str) -> float | None:
    text = generate_latest(registry).decode()
    if f'topic="{topic}"' not in text:
        return None
    return counter(text, "tierline_consumer_lag_messages", consumer="c", topic=topic)


async def test_lag_follows_commits_grows_while_stuck_and_clears_without_partitions(
        kafka: EmbeddedKafka) -> None:
    topic = f"lag-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka.bootstrap_servers, [topic], partitions=1, replication_factor=1)
    await produce(kafka.bootstrap_servers, topic, [(b"k", b"v", [])] * 10)
    registry = CollectorRegistry()
    lag = ConsumerLag("c", registry)
    consumer = make_consumer(kafka.bootstrap_servers, topic, group_id=f"g-{topic}",
                             enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    stopping = asyncio.Event()
    holder: dict[str, object] = {"consumer": consumer}
    task = asyncio.create_task(lag.run(lambda: holder["consumer"], stopping,  # type: ignore[arg-type, return-value]
                                       interval_s=0.1))
    try:
        async def assigned() -> bool:
            await consumer.getmany(timeout_ms=200)
            return bool(consumer.assignment())

        await eventually(assigned, what="the partition assigned")

        async def lag_is(n: int) -> bool:
            return lag_of(registry, topic) == n

        await eventually(lambda: lag_is(10), what="lag 10 before any commit")
        await consumer.commit({TopicPartition(topic, 0): 4})
        await eventually(lambda: lag_is(6), what="lag 6 after committing 4")
        # Nothing consumed or committed meanwhile (a stuck handler): the lag still moves.
        await produce(kafka.bootstrap_servers, topic, [(b"k", b"v", [])] * 5)
        await eventually(lambda: lag_is(11), what="lag 11 with five more waiting")
        holder["consumer"] = None  # disconnected: no figure rather than a frozen one

        async def cleared() -> bool:
            return lag_of(registry, topic) is None

        await eventually(cleared, what="the lag series gone")
    finally:
        stopping.set()
        await task
        await consumer.stop()
    assert lag_of(registry, topic) is None


async def test_a_rebalance_moves_the_lag_with_the_partitions(kafka: EmbeddedKafka) -> None:
    topic = f"lag-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka.bootstrap_servers, [topic], partitions=2, replication_factor=1)
    producer = make_producer(kafka.bootstrap_servers)
    await producer.start()
    try:
        for partition, count in ((0, 10), (1, 4)):
            for _ in range(count):
                await producer.send_and_wait(topic, b"v", partition=partition)
    finally:
        await producer.stop()
    group, stopping = f"g-{topic}", asyncio.Event()
    registries = [CollectorRegistry(), CollectorRegistry()]
    lags = [ConsumerLag("c", registry) for registry in registries]
    consumers = [make_consumer(kafka.bootstrap_servers, topic, group_id=group,
                               enable_auto_commit=False, auto_offset_reset="earliest",
                               max_poll_records=1) for _ in range(2)]
    tasks: list[asyncio.Task[None]] = []
    polling: list[asyncio.Task[None]] = []

    async def poll(consumer: Any) -> None:  # stays in the group, consumes nothing
        while not stopping.is_set():
            await consumer.getmany(timeout_ms=100)

    try:
        await consumers[0].start()
        polling.append(asyncio.create_task(poll(consumers[0])))
        tasks.append(asyncio.create_task(lags[0].run(lambda: consumers[0], stopping, 0.1)))

        async def first_holds_all() -> bool:
            return lag_of(registries[0], topic) == 14

        await eventually(first_holds_all, timeout=30, what="one replica: lag 14")
        await consumers[1].start()
        polling.append(asyncio.create_task(poll(consumers[1])))
        tasks.append(asyncio.create_task(lags[1].run(lambda: consumers[1], stopping, 0.1)))

        async def split() -> tuple[float | None, float | None] | None:
            got = (lag_of(registries[0], topic), lag_of(registries[1], topic))
            return got if sorted(g or 0 for g in got) == [4, 10] else None

        await eventually(split, timeout=60, what="the partitions and their lag split")
    finally:
        stopping.set()
        await asyncio.gather(*tasks, *polling, return_exceptions=True)
        for consumer in consumers:
            await consumer.stop()
