"""Consumer lag as Prometheus sees it: end offsets minus the group's committed offsets of the
partitions this replica holds, computed on a timer by its own task, so a consumer stuck in a
handler shows its lag growing (not the figure of its last batch), and partitions it lost in a
rebalance drop out at the next reading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class ConsumerLag(Collector):
    def __init__(self, consumer: str, registry: CollectorRegistry) -> None:
        self.consumer = consumer
        self.by_topic: dict[str, int] = {}
        registry.register(self)

    async def refresh(self, client: AIOKafkaConsumer) -> None:
        assigned = sorted(client.assignment())
        if not assigned:
            self.by_topic = {}
            return
        ends = await client.end_offsets(assigned)
        lags: dict[str, int] = {}
        for tp in assigned:
            committed = await client.committed(tp)
            lag = ends[tp] - (committed or 0)
            lags[tp.topic] = lags.get(tp.topic, 0) + max(lag, 0)
        self.by_topic = lags

    def clear(self) -> None:
        self.by_topic = {}

    async def run(self, client: Callable[[], AIOKafkaConsumer | None], stopping: asyncio.Event,
                  interval_s: float = 5.0) -> None:
        """Refresh every ``interval_s`` while ``client()`` gives a started consumer; clear the
        figures while it gives none (disconnected, stopping)."""
        while not stopping.is_set():
            consumer = client()
            try:
                if consumer is None:
                    self.clear()
                else:
                    await self.refresh(consumer)
            except (KafkaError, OSError, AssertionError) as exc:
                log.warning("consumer lag not read", extra={"consumer": self.consumer,
                                                            "error": repr(exc)})
                self.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval_s)
        self.clear()

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "tierline_consumer_lag_messages",
            "Messages on the topic after the group's committed offsets, summed over the "
            "partitions this replica holds; read on a timer, cleared when it holds none.",
            labels=["consumer", "topic"])
        for topic, lag in sorted(self.by_topic.items()):
            family.add_metric([self.consumer, topic], lag)
        yield family
