"""How much work waits in a service's outbox, and for how long: the figures that matter
while the broker is away (intake keeps accepting into its outbox; the relay drains it later).

Read from PostgreSQL by a periodic job, not at scrape time (a scrape must not queue behind
the database), so every replica reports the same shared table: take ``max``, not ``sum``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Table, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class OutboxDepth(Collector):
    def __init__(self, service: str, outbox: Table) -> None:
        self.service, self.outbox = service, outbox
        self.pending = 0
        self.oldest_age_s = 0.0

    async def refresh(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        o = self.outbox.c
        async with sessions() as session:
            count, age = (await session.execute(
                select(func.count(), extract("epoch", func.now() - func.min(o.created_at)))
                .select_from(self.outbox))).one()
        self.pending = int(count)
        self.oldest_age_s = max(float(age or 0.0), 0.0)

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "tierline_outbox_pending_events",
            "Events written to this service's outbox and not yet published to the broker.",
            labels=["service"])
        pending.add_metric([self.service], self.pending)
        yield pending
        age = GaugeMetricFamily(
            "tierline_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox event (0 when the outbox is empty).",
            labels=["service"])
        age.add_metric([self.service], self.oldest_age_s)
        yield age
