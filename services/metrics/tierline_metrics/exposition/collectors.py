"""Counters for Prometheus, read from the counter totals the batches keep in PostgreSQL, so
every replica agrees and a restart does not reset them. Refreshed at start and every
metrics_refresh_interval_s."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.exposition.kpis import KpiCollector
from tierline_metrics.models import counter_totals
from tierline_shared.clock import Clock, SystemClock

Counts = dict[tuple[str, str], int]
Totals = dict[str, Counts]  # counter name -> label values -> total


class TicketCounters(Collector):
    def __init__(self) -> None:
        self.created: Counts = {}
        self.assigned: Counts = {}
        self.to_route: Counts = {}

    def load(self, totals: Totals) -> None:
        self.created = totals.get("tickets_created", {})
        self.assigned = totals.get("tickets_assigned", {})
        self.to_route = totals.get("tickets_to_route", {})

    def collect(self) -> Iterator[Metric]:
        for name, doc, counts in (
            ("tierline_tickets_created", "Tickets logged by intake.", self.created),
            ("tierline_tickets_assigned", "Tickets assigned to an agent by router.",
             self.assigned),
            ("tierline_tickets_to_route", "Tickets logged by intake for an agent: every "
             "ticket but those deflected by self-service, which are never assigned.",
             self.to_route),
        ):
            family = CounterMetricFamily(name, doc, labels=["priority", "category"])
            for (priority, category), count in sorted(counts.items()):
                family.add_metric([priority, category], count)
            yield family


OPEN_STATUSES = ("declared", "restored", "resolved")


class SlaCounters(Collector):
    """SLA warnings and breaches, escalations, major incidents and problems."""

    def __init__(self) -> None:
        self.warnings: Counts = {}  # (clock, priority)
        self.breaches: Counts = {}  # (clock, priority)
        self.escalations: Counts = {}  # (kind, trigger)
        self.major_incidents = 0
        self.major_incidents_open = dict.fromkeys(OPEN_STATUSES, 0)
        self.problems = 0

    def load(self, totals: Totals) -> None:
        self.warnings = dict(totals.get("sla_warnings", {}))
        self.breaches = dict(totals.get("sla_breaches", {}))
        self.escalations = dict(totals.get("escalations", {}))
        self.major_incidents = sum(totals.get("major_incidents", {}).values())
        self.problems = sum(totals.get("problems", {}).values())
        self.major_incidents_open = dict.fromkeys(OPEN_STATUSES, 0) | {
            status: n for (status, _), n in totals.get("major_incidents_open", {}).items()}

    def collect(self) -> Iterator[Metric]:
        for name, doc, labels, counts in (
            ("tierline_sla_warnings", "SLA clocks past a warning threshold.",
             ["clock", "priority"], self.warnings),
            ("tierline_sla_breaches", "SLA clocks that reached their target unmet.",
             ["clock", "priority"], self.breaches),
            ("tierline_escalations", "Escalations raised by sla.", ["kind", "trigger"],
             self.escalations),
        ):
            family = CounterMetricFamily(name, doc, labels=labels)
            for key, count in sorted(counts.items()):
                family.add_metric(list(key), count)
            yield family
        yield CounterMetricFamily("tierline_major_incidents", "Major incidents declared.",
                                  value=self.major_incidents)
        gauge = GaugeMetricFamily(
            "tierline_major_incidents_open",
            "Major incidents not yet closed, by status (declared: service still down).",
            labels=["status"])
        for name in OPEN_STATUSES:
            gauge.add_metric([name], self.major_incidents_open[name])
        yield gauge
        yield CounterMetricFamily("tierline_problems", "Problem candidates identified.",
                                  value=self.problems)


async def read_totals(session: AsyncSession) -> Totals:
    """Every counter total, by counter name, then by its label values."""
    out: Totals = {}
    rows = await session.execute(select(counter_totals.c.name, counter_totals.c.a,
                                        counter_totals.c.b, counter_totals.c.value))
    for name, a, b, value in rows.all():
        out.setdefault(name, {})[a, b] = value
    return out


@dataclass
class Counters:
    """Every collector, loaded together from the counter totals the batches keep
    (:mod:`tierline_metrics.events.counters`): one small read per refresh, whatever the volume."""

    tickets: TicketCounters = field(default_factory=TicketCounters)
    sla: SlaCounters = field(default_factory=SlaCounters)
    kpis: KpiCollector = field(default_factory=lambda: KpiCollector(SystemClock()))

    async def refresh(self, session: AsyncSession) -> None:
        totals = await read_totals(session)
        self.tickets.load(totals)
        self.sla.load(totals)
        await self.kpis.load(session, totals)


def register(registry: CollectorRegistry, clock: Clock | None = None,
             per_agent: bool = False) -> Counters:
    """Register the collectors; ``per_agent`` adds one series per agent (off by default:
    the number of agents is not bounded by the code)."""
    counters = Counters(kpis=KpiCollector(clock or SystemClock(), per_agent))
    registry.register(counters.tickets)
    registry.register(counters.sla)
    registry.register(counters.kpis)
    return counters
