"""KPI series for Prometheus, taken at each refresh from the counter totals the batches keep
(so every replica agrees and a restart resets nothing). Names and units by Prometheus'
conventions; labels are bounded: priority (5), channel (6), category (the taxonomy's),
score (1-5), NPS group (3); an agent label only with ``per_agent_series`` on. Never a
ticket, customer or text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.events.counters import BUCKETS_S
from tierline_metrics.models import OPEN_TICKET, SCHEMA
from tierline_shared.clock import Clock

Histogram = dict[str, tuple[list[int], float, int]]  # label -> (cumulative counts, sum, n)


class KpiCollector(Collector):
    def __init__(self, clock: Clock, per_agent: bool = False) -> None:
        self.clock, self.per_agent = clock, per_agent
        self.first_response: Histogram = {}
        self.resolution: Histogram = {}
        self.resolved: dict[str, int] = {}
        self.reopened: dict[str, int] = {}
        self.deflected: dict[str, int] = {}
        self.csat: dict[str, int] = {}
        self.nps: dict[str, int] = {}
        self.backlog: dict[str, tuple[int, float]] = {}
        self.agent_resolved: dict[str, int] = {}
        self.voc: dict[str, int] = {}

    async def load(self, session: AsyncSession,
                   totals: dict[str, dict[tuple[str, str], int]]) -> None:
        """Take the KPI counters from ``totals``; the age of the oldest open ticket per
        priority is the one figure read from the facts (one index probe per priority)."""
        def by_first(name: str) -> dict[str, int]:
            return {a: n for (a, _), n in totals.get(name, {}).items()}

        for name in ("first_response", "resolution"):
            buckets = totals.get(f"{name}_bucket", {})
            sums = by_first(f"{name}_sum_us")
            setattr(self, name, {
                p: ([buckets.get((p, str(b)), 0) for b in BUCKETS_S], sums.get(p, 0) / 1e6, n)
                for p, n in by_first(f"{name}_count").items()})
        self.resolved = by_first("tickets_resolved")
        self.reopened = by_first("tickets_reopened")
        self.deflected = by_first("tickets_deflected")
        self.csat = by_first("csat_responses")
        self.nps = dict.fromkeys(("promoter", "passive", "detractor"), 0) | by_first(
            "nps_responses")
        self.voc = by_first("voc_signals")
        self.agent_resolved = by_first("agent_resolved") if self.per_agent else {}
        open_now = {p: n for p, n in by_first("backlog").items() if n > 0}
        oldest: dict[str, datetime] = {}
        if open_now:
            rows = await session.execute(text(
                f"SELECT p, (SELECT min(created_at) FROM {SCHEMA}.ticket_facts "
                f"WHERE created_priority = p AND {OPEN_TICKET}) "
                "FROM unnest(CAST(:priorities AS text[])) AS p"),
                {"priorities": sorted(open_now)})
            oldest = {p: at for p, at in rows.all() if at is not None}
        now = self.clock.now()
        self.backlog = {p: (n, max((now - oldest[p]).total_seconds(), 0.0) if p in oldest
                            else 0.0) for p, n in open_now.items()}

    def collect(self) -> Iterator[Metric]:
        for name, doc, data in (
            ("tierline_first_response_seconds",
             "Wall-clock time from logging to the first response, by priority.",
             self.first_response),
            ("tierline_resolution_seconds",
             "Wall-clock time from logging to the (last) resolution, by priority.",
             self.resolution),
        ):
            family = HistogramMetricFamily(name, doc, labels=["priority"])
            for priority, (counts, total, n) in sorted(data.items()):
                buckets = [(str(float(b)), c) for b, c in zip(BUCKETS_S, counts, strict=True)]
                family.add_metric([priority], [*buckets, ("+Inf", n)], total)
            yield family
        for name, doc, label, values in (
            ("tierline_tickets_resolved", "Resolutions of tickets (a ticket resolved, reopened "
             "and resolved again counts twice), by priority.",
             "priority", self.resolved),
            ("tierline_tickets_reopened", "Reopens of tickets, by priority.", "priority",
             self.reopened),
            ("tierline_tickets_deflected",
             "Contacts resolved by self-service, never routed, by channel.", "channel",
             self.deflected),
            ("tierline_csat_responses", "CSAT answers, by score (1-5).", "score", self.csat),
            ("tierline_nps_responses", "NPS answers: promoter (9-10), passive (7-8), "
             "detractor (0-6).", "group", self.nps),
            ("tierline_voc_signals", "Voice-of-the-customer signals, by kind.", "kind",
             self.voc),
        ):
            counter = CounterMetricFamily(name, doc, labels=[label])
            for key, value in sorted(values.items()):
                counter.add_metric([key], value)
            yield counter
        open_tickets = GaugeMetricFamily("tierline_backlog_tickets",
                                         "Tickets not yet resolved, by priority.",
                                         labels=["priority"])
        oldest = GaugeMetricFamily("tierline_backlog_oldest_age_seconds",
                                   "Age of the oldest unresolved ticket, by priority.",
                                   labels=["priority"])
        for priority, (n, age) in sorted(self.backlog.items()):
            open_tickets.add_metric([priority], n)
            oldest.add_metric([priority], age)
        yield open_tickets
        yield oldest
        if self.per_agent:
            agents = CounterMetricFamily("tierline_agent_tickets_resolved",
                                         "Tickets resolved, by the agent holding them.",
                                         labels=["agent"])
            for agent, n in sorted(self.agent_resolved.items()):
                agents.add_metric([agent], n)
            yield agents
