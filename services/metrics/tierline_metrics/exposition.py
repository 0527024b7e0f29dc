"""Ticket counters for Prometheus, read from the read model so every replica agrees and a
restart does not reset them. Refreshed at start and every metrics_refresh_interval_s."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.models import ticket_facts

Counts = dict[tuple[str, str], int]


class TicketCounters(Collector):
    def __init__(self) -> None:
        self.created: Counts = {}
        self.assigned: Counts = {}

    async def refresh(self, session: AsyncSession) -> None:
        f = ticket_facts.c
        created = await session.execute(
            select(f.created_priority, f.created_category, func.count())
            .where(f.created_at.is_not(None))
            .group_by(f.created_priority, f.created_category))
        assigned = await session.execute(
            select(f.assigned_priority, f.assigned_category, func.count())
            .where(f.assigned_at.is_not(None))
            .group_by(f.assigned_priority, f.assigned_category))
        self.created = {(p, c): n for p, c, n in created.all()}
        self.assigned = {(p, c): n for p, c, n in assigned.all()}

    def collect(self) -> Iterator[Metric]:
        for name, doc, counts in (
            ("tierline_tickets_created", "Tickets logged by intake.", self.created),
            ("tierline_tickets_assigned", "Tickets assigned to an agent by router.",
             self.assigned),
        ):
            family = CounterMetricFamily(name, doc, labels=["priority", "category"])
            for (priority, category), count in sorted(counts.items()):
                family.add_metric([priority, category], count)
            yield family


def register(registry: CollectorRegistry) -> TicketCounters:
    counters = TicketCounters()
    registry.register(counters)
    return counters
