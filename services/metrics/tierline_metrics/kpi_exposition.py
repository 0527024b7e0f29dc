"""KPI series for Prometheus, read from the read model at each refresh (so every replica
agrees and a restart resets nothing). Names and units by Prometheus' conventions; labels
are bounded: priority (5), channel (6), category (the taxonomy's), score (1-5), NPS group
(3); an agent label only with ``per_agent_series`` on. Never a ticket, customer or text."""

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
from sqlalchemy import ColumnElement, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.models import ticket_facts, voc_signals
from tierline_shared.clock import Clock

# Support times: a minute to a week.
BUCKETS_S = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200, 604800)
OPEN_EXCLUDED = ("resolved", "closed")

Histogram = dict[str, tuple[list[int], float, int]]  # label -> (cumulative counts, sum, n)


def _seconds(end: ColumnElement[datetime]) -> ColumnElement[float]:
    return extract("epoch", end - ticket_facts.c.created_at)


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

    async def _histogram(self, session: AsyncSession, end: ColumnElement[datetime]) -> Histogram:
        f = ticket_facts.c
        seconds = _seconds(end)
        rows = await session.execute(
            select(f.created_priority,
                   *(func.count().filter(seconds <= b) for b in BUCKETS_S),
                   func.coalesce(func.sum(seconds), 0), func.count())
            .where(end.is_not(None), f.created_at.is_not(None), f.created_priority.is_not(None),
                   f.deflected.is_(False))
            .group_by(f.created_priority))
        return {r[0]: (list(r[1:-2]), float(r[-2]), int(r[-1])) for r in rows.all()}

    async def refresh(self, session: AsyncSession) -> None:
        f = ticket_facts.c
        known = (f.created_at.is_not(None), f.created_priority.is_not(None))
        self.first_response = await self._histogram(session, f.first_response_at)
        self.resolution = await self._histogram(session, f.resolved_at)
        resolved = (await session.execute(
            select(f.created_priority, func.count().filter(f.status.in_(OPEN_EXCLUDED)),
                   func.coalesce(func.sum(f.reopen_count), 0))
            .where(*known, f.deflected.is_(False)).group_by(f.created_priority))).all()
        # Every reopen undid one resolution and the ticket's current one (if any) is the
        # last: resolutions = reopens + (resolved or closed now). It only grows, where a
        # count of tickets resolved now dropped on each reopen (read as a counter reset).
        self.resolved = {p: n + int(r) for p, n, r in resolved}
        self.reopened = {p: int(r) for p, _, r in resolved}
        self.deflected = {c: n for c, n in (await session.execute(
            select(f.channel, func.count()).where(f.deflected.is_(True), f.channel.is_not(None))
            .group_by(f.channel))).all()}
        self.csat = {str(s): n for s, n in (await session.execute(
            select(f.csat, func.count()).where(f.csat.between(1, 5)).group_by(f.csat))).all()}
        nps = (await session.execute(
            select(func.count().filter(f.nps >= 9), func.count().filter(f.nps.between(7, 8)),
                   func.count().filter(f.nps <= 6)).where(f.nps.is_not(None)))).one()
        self.nps = dict(zip(("promoter", "passive", "detractor"), nps, strict=True))
        now = self.clock.now()
        backlog = (await session.execute(
            select(f.created_priority, func.count(), func.min(f.created_at))
            .where(*known, f.deflected.is_(False),
                   f.status.is_(None) | f.status.not_in(OPEN_EXCLUDED))
            .group_by(f.created_priority))).all()
        self.backlog = {p: (n, max((now - oldest).total_seconds(), 0.0))
                        for p, n, oldest in backlog}
        self.voc = {k: n for k, n in (await session.execute(
            select(voc_signals.c.kind, func.count()).group_by(voc_signals.c.kind))).all()}
        if self.per_agent:
            self.agent_resolved = {a: n for a, n in (await session.execute(
                select(f.agent_id, func.count())
                .where(f.agent_id.is_not(None), f.status.in_(OPEN_EXCLUDED))
                .group_by(f.agent_id))).all()}

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
