"""Small test helpers: polling, and reading topics on the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float = 15,
                     interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


async def read_topic(bootstrap: str, topic: str,
                     until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
                     timeout: float = 15) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the beginning (no consumer group) until ``until(records)``."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if until(records):
                return records
        raise AssertionError(f"{topic}: expected records not seen within {timeout}s; "
                             f"got {len(records)}")
    finally:
        await consumer.stop()


Message = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


async def produce(bootstrap: str, topic: str, messages: list[Message]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, key=key, value=value, headers=headers)
    finally:
        await producer.stop()


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return None


def offline_runtime(spec: Any, database_url: str, clock: Any) -> Any:
    """A service's Runtime on a real database, with its relay built but not running and no
    consumer: tests call its handlers and jobs directly, in virtual time, and read what it
    would publish from its outbox."""
    from prometheus_client import CollectorRegistry

    from tierline_shared.bus.outbox import OutboxRelay
    from tierline_shared.bus.topics import Topics
    from tierline_shared.db import make_engine, make_sessionmaker
    from tierline_shared.runtime import Runtime
    from tierline_shared.settings import Settings

    settings = Settings(database_url=database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    topics = Topics(settings.topic_prefix)
    relay = OutboxRelay(sessions=sessions, engine=engine, outbox=spec.outbox,
                        bootstrap_servers="unused:9", topics=topics.all(), partitions=1,
                        replication_factor=1, poll_interval_s=1.0, batch_size=100)
    return Runtime(spec=spec, settings=settings, clock=clock, engine=engine, sessions=sessions,
                   topics=topics, registry=CollectorRegistry(), relay=relay)


async def deliver(runtime: Any, event: Any) -> None:
    """Run the runtime's handler for ``event`` in one transaction, as its consumer would."""
    from tierline_shared.bus.envelope import Envelope

    await deliver_envelope(runtime, Envelope.wrap(event, source="/test",
                                                  time=runtime.clock.now()))


async def deliver_envelope(runtime: Any, envelope: Any) -> None:
    from tierline_shared.bus.handlers import Delivered

    async with runtime.transaction() as uow:
        await runtime.spec.handlers(runtime).apply(uow, [Delivered(envelope)])


async def outbox_events(runtime: Any, subject: str | None = None) -> list[tuple[str, dict]]:
    """(type, body) of what the service has written to its outbox, oldest first."""
    import json

    from sqlalchemy import select

    outbox = runtime.spec.outbox
    query = select(outbox.c.headers, outbox.c.value, outbox.c.key).order_by(outbox.c.id)
    async with runtime.sessions() as session:
        rows = (await session.execute(query)).all()
    out = []
    for headers, value, key in rows:
        if subject is not None and key != subject.encode():
            continue
        kind = dict(headers)["ce_type"]
        out.append((kind, json.loads(value)))
    return out


def attach(app: Any, runtime: Any, rate_per_s: float = 10_000, burst: int = 10_000,
           key: str | None = None, limits: Any = None) -> str:
    """Serve ``app`` in process on ``runtime`` (no lifespan), accepting a fresh admin key
    (or ``key``), which it returns for the clients to send; ``limits`` replaces the
    in-process buckets."""
    from tierline_shared.auth.deps import Authenticator
    from tierline_shared.auth.keys import generate
    from tierline_shared.auth.limits import TokenBuckets
    from tierline_shared.auth.store import KeyCache

    key = key or generate().plaintext
    app.state.runtime = runtime
    app.state.auth = Authenticator(KeyCache(runtime.sessions, 5.0),
                                   limits or TokenBuckets(rate_per_s, burst), key)
    return key
