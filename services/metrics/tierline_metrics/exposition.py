"""Counters for Prometheus, read from the read model so every replica agrees and a restart
does not reset them. Refreshed at start and every metrics_refresh_interval_s."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.kpi_exposition import KpiCollector
from tierline_metrics.models import (
    escalations,
    major_incidents,
    problems,
    sla_events,
    ticket_facts,
)
from tierline_shared.clock import Clock, SystemClock

Counts = dict[tuple[str, str], int]


class TicketCounters(Collector):
    def __init__(self) -> None:
        self.created: Counts = {}
        self.assigned: Counts = {}
        self.to_route: Counts = {}

    async def refresh(self, session: AsyncSession) -> None:
        f = ticket_facts.c
        created = await session.execute(
            select(f.created_priority, f.created_category, func.count())
            .where(f.created_at.is_not(None))
            .group_by(f.created_priority, f.created_category))
        to_route = await session.execute(
            select(f.created_priority, f.created_category, func.count())
            .where(f.created_at.is_not(None), f.deflected.is_(False))
            .group_by(f.created_priority, f.created_category))
        assigned = await session.execute(
            select(f.assigned_priority, f.assigned_category, func.count())
            .where(f.assigned_at.is_not(None))
            .group_by(f.assigned_priority, f.assigned_category))
        self.created = {(p, c): n for p, c, n in created.all()}
        self.assigned = {(p, c): n for p, c, n in assigned.all()}
        self.to_route = {(p, c): n for p, c, n in to_route.all()}

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

    async def refresh(self, session: AsyncSession) -> None:
        s, e, mi = sla_events.c, escalations.c, major_incidents.c
        by_clock = await session.execute(
            select(s.kind, s.clock, s.priority, func.count())
            .group_by(s.kind, s.clock, s.priority))
        by_trigger = await session.execute(
            select(e.kind, e.trigger, func.count()).group_by(e.kind, e.trigger))
        stage = case((mi.resolved_at.is_not(None), "resolved"),
                     (mi.restored_at.is_not(None), "restored"), else_="declared")
        open_by_status = await session.execute(
            select(stage, func.count()).where(mi.closed_at.is_(None)).group_by(stage))
        self.major_incidents = await session.scalar(
            select(func.count()).select_from(major_incidents)) or 0
        self.problems = await session.scalar(select(func.count()).select_from(problems)) or 0
        rows = by_clock.all()
        self.warnings = {(c, p): n for kind, c, p, n in rows if kind == "warning"}
        self.breaches = {(c, p): n for kind, c, p, n in rows if kind == "breach"}
        self.escalations = {(k, t): n for k, t, n in by_trigger.all()}
        self.major_incidents_open = dict.fromkeys(OPEN_STATUSES, 0) | {
            status: n for status, n in open_by_status.all()}

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


@dataclass
class Counters:
    """Every collector that reads the read model, refreshed together."""

    tickets: TicketCounters = field(default_factory=TicketCounters)
    sla: SlaCounters = field(default_factory=SlaCounters)
    kpis: KpiCollector = field(default_factory=lambda: KpiCollector(SystemClock()))

    async def refresh(self, session: AsyncSession) -> None:
        await self.tickets.refresh(session)
        await self.sla.refresh(session)
        await self.kpis.refresh(session)


def register(registry: CollectorRegistry, clock: Clock | None = None,
             per_agent: bool = False) -> Counters:
    """Register the collectors; ``per_agent`` adds one series per agent (off by default:
    the number of agents is not bounded by the code)."""
    counters = Counters(kpis=KpiCollector(clock or SystemClock(), per_agent))
    registry.register(counters.tickets)
    registry.register(counters.sla)
    registry.register(counters.kpis)
    return counters
