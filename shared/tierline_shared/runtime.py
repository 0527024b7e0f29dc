"""What a running service holds: settings, clock, database, bus, registry. Built in lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tierline_shared.audit import Actor
from tierline_shared.bus.consumer import ConsumerLoop
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import Event
from tierline_shared.bus.handlers import Handlers
from tierline_shared.bus.kafka import KafkaClient
from tierline_shared.bus.outbox import OutboxRelay, enqueue
from tierline_shared.bus.outbox_metrics import OutboxDepth
from tierline_shared.bus.topics import Topics
from tierline_shared.clock import Clock, clock_for
from tierline_shared.db import make_engine, make_sessionmaker
from tierline_shared.settings import Settings
from tierline_shared.unit_of_work import UnitOfWork, transaction

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A dependency the service cannot start without stayed unreachable."""


async def wait_for_database(engine: AsyncEngine, wait_s: float, *,
                            first_backoff_s: float = 0.5) -> None:
    """Return once PostgreSQL answers; retry with backoff, logging what it waits for, and
    raise :class:`StartupError` if it has not answered within ``wait_s`` seconds."""
    where = engine.url.render_as_string(hide_password=True)
    deadline = time.monotonic() + wait_s
    backoff = first_backoff_s
    while True:
        try:
            async with engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 5)
            return
        except Exception as exc:
            error = repr(exc)
        left = deadline - time.monotonic()
        if left <= 0:
            message = (f"PostgreSQL at {where} did not answer within {wait_s:g} s "
                       f"(TIERLINE_STARTUP_WAIT_S); last error: {error}")
            log.error("giving up: database unreachable at start-up",
                      extra={"database": where, "waited_s": wait_s, "error": error})
            raise StartupError(message)
        pause = min(backoff, left)
        log.warning("waiting for the database", extra={
            "database": where, "error": error, "retry_in_s": round(pause, 2),
            "gives_up_in_s": round(left, 1)})
        await asyncio.sleep(pause)
        backoff = min(backoff * 2, 5.0)


@dataclass
class ServiceSpec:
    """Everything that makes one service different from another."""

    name: str
    metadata: MetaData
    outbox: Table
    inbox: Table
    consumes: Callable[[Topics], list[str]] = lambda topics: []
    handlers: Callable[[Runtime], Handlers] = lambda runtime: Handlers()
    on_start: Callable[[Runtime], Awaitable[None]] | None = None
    # Periodic jobs: (name, interval in seconds from settings, job); each run is retried
    # at the next interval if it fails.
    periodic: Callable[[Runtime], list[tuple[str, float, Callable[[Runtime], Awaitable[None]]]]] \
        = lambda runtime: []
    # Ready to serve while the broker is away: its requests write to its outbox, which the
    # relay drains once the broker is back (intake). Otherwise its work comes from the
    # broker, so readiness also needs its consumer running.
    serves_without_broker: bool = False


def freeze_startup_objects() -> None:
    """Move what start-up built (the framework's objects, policies, the categorizer's
    models: some 235,000 objects in intake) out of the cyclic garbage collector's reach.
    They live as long as the process, and every full collection would walk them all again,
    ~60 ms during which no request, event or offer moves: the tail of the end-to-end
    latency. Objects made later are collected as before."""
    gc.collect()
    gc.freeze()


@dataclass
class Runtime:
    spec: ServiceSpec
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    topics: Topics
    registry: CollectorRegistry
    relay: OutboxRelay
    consumer: ConsumerLoop | None = None
    # The service's own typed context (a dataclass its on_start builds; intake's is
    # ``tierline_intake.context.IntakeContext``): shared code never looks inside.
    context: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"/tierline/{self.spec.name}"

    def envelope(self, event: Event) -> Envelope:
        return Envelope.wrap(event, source=self.source, time=self.clock.now())

    async def emit(self, session: AsyncSession, topic: str, envelope: Envelope) -> None:
        await enqueue(session, self.spec.outbox, topic, envelope)

    def transaction(self, actor: Actor | None = None, *, one_statement: bool = False
                    ) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work acting as ``actor`` (the service itself when None): its audit
        entries, history rows and events are written at commit, then the relay is woken
        (``one_statement``: see ``unit_of_work.transaction``)."""
        return transaction(self.sessions, outbox=self.spec.outbox,
                           actor=actor or Actor.system(self.spec.name), wake=self.relay.notify,
                           one_statement=one_statement)

    async def ready(self) -> tuple[bool, dict[str, bool]]:
        """Whether to take traffic, and the checks behind it: the database answers and, for a
        service whose work comes from the broker, its consumer loop runs. The broker's state
        is what the relay last saw: no Kafka client is opened per probe."""
        checks = {"database": False, "broker": self.relay.connected}
        with contextlib.suppress(Exception):
            async with self.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 2)
                checks["database"] = True
        if self.consumer is not None:
            checks["consumer"] = self.consumer.running
        # The relay's producer is reported, not required: it is dropped only when a send
        # fails, so it says nothing about a replica that has had nothing to send.
        needs_consumer = self.consumer is not None and not self.spec.serves_without_broker
        ok = checks["database"] and (not needs_consumer or checks["consumer"])
        return ok, checks

    @classmethod
    async def start(cls, spec: ServiceSpec, settings: Settings,
                    clock: Clock | None = None) -> Runtime:
        engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        try:
            await wait_for_database(engine, settings.startup_wait_s)
        except StartupError:
            await engine.dispose()
            raise
        sessions = make_sessionmaker(engine)
        topics = Topics(settings.topic_prefix)
        kafka = KafkaClient.from_settings(settings, topics.configs(settings.min_insync_replicas))
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        relay = OutboxRelay(
            sessions=sessions,
            engine=engine,
            outbox=spec.outbox,
            bootstrap_servers=kafka,
            topics=topics.all(),
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            poll_interval_s=settings.outbox_poll_interval_s,
            batch_size=settings.outbox_batch_size,
        )
        runtime = cls(spec=spec, settings=settings, clock=clock or clock_for(
                          settings.clock_speed, settings.clock_start, settings.clock_real_start),
                      engine=engine,
                      sessions=sessions, topics=topics, registry=registry, relay=relay)
        Gauge("tierline_outbox_published", "Events the outbox relay has published since start.",
              registry=registry).set_function(lambda: relay.published)
        depth = OutboxDepth(spec.name, spec.outbox)
        registry.register(depth)
        if spec.on_start is not None:
            await spec.on_start(runtime)
        freeze_startup_objects()
        consumed = spec.consumes(topics)
        if consumed:
            runtime.consumer = ConsumerLoop(
                name=spec.name,
                group_id=f"{settings.topic_prefix}.{spec.name}",
                topics=consumed,
                handlers=spec.handlers(runtime),
                transaction=runtime.transaction,
                inbox=spec.inbox,
                bootstrap_servers=kafka,
                deadletter_topic=topics.deadletter,
                all_topics=topics.all(),
                partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                registry=registry,
                max_attempts=settings.consumer_max_attempts,
                retry_backoff_s=settings.consumer_retry_backoff_s,
                fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            )
        runtime._tasks.append(asyncio.create_task(relay.run(), name=f"{spec.name}-relay"))
        if runtime.consumer is not None:
            runtime._tasks.append(
                asyncio.create_task(runtime.consumer.run(), name=f"{spec.name}-consumer"))
        jobs = [*spec.periodic(runtime), ("outbox-depth", settings.outbox_depth_interval_s,
                                          lambda rt: depth.refresh(rt.sessions))]
        for name, interval, job in jobs:
            runtime._tasks.append(asyncio.create_task(runtime._every(name, interval, job),
                                                      name=f"{spec.name}-{name}"))
        log.info("service started", extra={"topics": consumed})
        return runtime

    async def _every(self, name: str, interval: float,
                     job: Callable[[Runtime], Awaitable[None]]) -> None:
        while not self.stopping.is_set():
            try:
                await job(self)
            except Exception as exc:
                log.warning("periodic job failed", extra={"job": name, "error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), interval)

    async def stop(self) -> None:
        """Finish in-flight work, commit, then close: consumer first, relay last."""
        self.stopping.set()
        if self.consumer is not None:
            await self.consumer.stop()
        await self.relay.stop()
        if not self._tasks:
            await self.engine.dispose()
            return
        done, pending = await asyncio.wait(self._tasks, timeout=15)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("background task ended with an error",
                          extra={"task": task.get_name(), "error": repr(task.exception())})
        await self.engine.dispose()
        gc.unfreeze()  # what start-up froze may be garbage now (tests start many runtimes)
        log.info("service stopped")
