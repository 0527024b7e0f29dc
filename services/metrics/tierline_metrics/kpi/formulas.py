"""The KPI formulas, over folded tickets. Pure: no I/O, no clock.

Every figure is for the tickets *created* in the period (a cohort), except the backlog (open
at the period's end) and the cost per ticket (agent hours in the period over tickets
resolved in it). The README's metrics section gives each formula in words.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tierline_metrics.kpi.tickets import RESOLVED, Assignment, Ticket

GroupBy = Literal["team", "agent", "tier", "category", "channel", "priority"]
BusinessSeconds = Callable[[str | None, datetime, datetime], float]


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def __contains__(self, when: datetime | None) -> bool:
        return when is not None and self.start <= when < self.end


@dataclass(frozen=True)
class KpiPolicy:
    fcr_window: timedelta = timedelta(days=7)  # repeat contacts and reopens within it count
    cost_per_agent_hour: float = 40.0


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


def wall_clock(priority: str | None, start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


class Lens:
    """How one group (or the whole, with ``group_by`` None) sees a ticket. Agent and tier
    groups hold every ticket one of their agents held; they own an escalation raised while
    they held the ticket and a resolution when they held it at the time. The other
    groups are a ticket attribute."""

    def __init__(self, group_by: GroupBy | None = None, key: str | None = None) -> None:
        self.group_by, self.key = group_by, key
        self.by_holder = group_by in HOLDER_GROUPS

    def _is(self, assignment: Assignment | None) -> bool:
        return assignment is not None and holder_key(assignment, self.group_by) == self.key

    def holds(self, t: Ticket) -> bool:
        if self.group_by is None:
            return True
        if self.by_holder:
            return any(self._is(a) for a in t.assignments)
        return attribute(t, self.group_by) == self.key

    def escalated(self, t: Ticket, kind: str | None = None) -> bool:
        mine = [e for e in t.escalations if kind is None or e.kind == kind]
        if self.by_holder:
            return any(self._is(e.holder) for e in mine)
        return bool(mine) and self.holds(t)

    def resolved(self, t: Ticket) -> bool:
        if t.resolved_at is None or t.deflected:
            return False
        return self._is(t.resolver) if self.by_holder else self.holds(t)

    def first(self, t: Ticket) -> bool:
        return self._is(t.first_assignment) if self.by_holder else self.holds(t)

    def open_at(self, t: Ticket, when: datetime) -> bool:
        if t.deflected or t.created_at is None or t.created_at >= when \
                or t.status_at(when) in RESOLVED:
            return False
        return self._is(t.holder_at(when)) if self.by_holder else self.holds(t)


HOLDER_GROUPS = ("team", "agent", "tier")


def holder_key(assignment: Assignment, group_by: str | None) -> str | None:
    """The group of the agent who held the ticket: their team, id or tier."""
    if group_by == "team":
        return assignment.team
    return assignment.agent_id if group_by == "agent" else str(assignment.tier)


def attribute(t: Ticket, group_by: str) -> str | None:
    return {"category": t.category, "channel": t.channel, "priority": t.priority,
            "type": t.ticket_type}.get(group_by)


def group_keys(tickets: Iterable[Ticket], group_by: GroupBy) -> list[str]:
    keys: set[str] = set()
    for t in tickets:
        if group_by in HOLDER_GROUPS:
            keys.update(k for a in t.assignments if (k := holder_key(a, group_by)) is not None)
        elif (value := attribute(t, group_by)) is not None:
            keys.add(value)
    return sorted(keys)


def issues(tickets: Iterable[Ticket], window: timedelta) -> list[list[Ticket]]:
    """A customer's contacts about one issue, whatever the channel (chat, IVR, a ticket):
    same requester, category and subcategory, each within ``window`` of the one before."""
    chains: dict[tuple[Any, ...], list[list[Ticket]]] = {}
    for t in sorted((t for t in tickets if not t.deflected and t.created_at is not None),
                    key=lambda t: (t.created_at, str(t.ticket_id))):
        key = (t.requester_id, t.category, t.subcategory)
        chain = chains.setdefault(key, [])
        last = chain[-1][-1] if chain else None
        if last is not None and t.created_at - last.created_at <= window:  # type: ignore[operator]
            chain[-1].append(t)
        else:
            chain.append([t])
    return [issue for chain in chains.values() for issue in chain]


def first_contact_resolved(t: Ticket, window: timedelta) -> bool:
    """Resolved by the first agent it was assigned to: no reassignment, no escalation, no
    reopen within ``window`` of its first resolution."""
    first = t.first_resolved_at
    return (t.resolved_at is not None and t.first_assignment is not None
            and not t.reassigned and not t.escalations and first is not None
            and not any(r - first <= window for r in t.reopens))


def _times(tickets: Iterable[Ticket], end: Callable[[Ticket], datetime | None],
           business: BusinessSeconds) -> dict[str, float | int | None]:
    wall, biz = [], []
    for t in tickets:
        stop = end(t)
        if stop is None or t.created_at is None:
            continue
        wall.append(wall_clock(t.priority, t.created_at, stop))
        biz.append(business(t.priority, t.created_at, stop))
    return {"count": len(wall), "p50": percentile(wall, 50), "p90": percentile(wall, 90),
            "business_p50": percentile(biz, 50), "business_p90": percentile(biz, 90)}


def kpi_set(tickets: Sequence[Ticket], period: Period, policy: KpiPolicy,
            business: BusinessSeconds = wall_clock, staffed: dict[str, float] | None = None,
            lens: Lens | None = None) -> dict[str, Any]:
    """The KPI set of the period for one group (all tickets by default)."""
    lens = lens or Lens()
    window = policy.fcr_window
    cohort = [t for t in tickets if t.created_at in period]
    contacts = [t for t in cohort if lens.holds(t)]
    handled = [t for t in contacts if not t.deflected]
    resolved = [t for t in cohort if lens.resolved(t)]
    deflected = sum(t.deflected for t in contacts)

    chains = [c for c in issues(tickets, window) if c[0].created_at in period and lens.first(c[0])]
    judged = [c for c in chains if any(t.resolved_at is not None for t in c)]
    fcr = sum(len(c) == 1 and first_contact_resolved(c[0], window) for c in judged)

    csat = [t.csat for t in resolved if t.csat is not None]
    nps = [t.nps for t in resolved if t.nps is not None]
    promoters, detractors = sum(s >= 9 for s in nps), sum(s <= 6 for s in nps)
    escalated = [t for t in handled if lens.escalated(t)]
    reopened = [t for t in resolved if t.reopens]
    attained = [t for t in resolved if not t.breached_clocks & {"first_response", "resolution"}]
    backlog_ages = [(period.end - t.created_at).total_seconds()  # type: ignore[operator]
                    for t in tickets if lens.open_at(t, period.end)]
    return {
        "contacts": len(contacts),
        "deflected": deflected,
        "deflection_rate": ratio(deflected, len(contacts)),
        "fcr": {"issues": len(judged), "resolved_first_contact": fcr,
                "rate": ratio(fcr, len(judged))},
        "csat": {"responses": len(csat), "satisfied": sum(s >= 4 for s in csat),
                 "rate": ratio(sum(s >= 4 for s in csat), len(csat)),
                 "mean": round(sum(csat) / len(csat), 4) if csat else None},
        "nps": {"responses": len(nps), "promoters": promoters, "detractors": detractors,
                "score": round(100 * (promoters - detractors) / len(nps), 2) if nps else None},
        "escalation": {"tickets": len(handled), "escalated": len(escalated),
                       "rate": ratio(len(escalated), len(handled)),
                       "functional_rate": ratio(
                           sum(lens.escalated(t, "functional") for t in handled), len(handled)),
                       "hierarchical_rate": ratio(
                           sum(lens.escalated(t, "hierarchical") for t in handled),
                           len(handled))},
        "reopen": {"resolved": len(resolved), "reopened": len(reopened),
                   "rate": ratio(len(reopened), len(resolved))},
        "first_response_seconds": _times(
            (t for t in handled if lens.first(t)), lambda t: t.first_response_at, business),
        "resolution_seconds": _times(resolved, lambda t: t.resolved_at, business),
        "sla_attainment": {"resolved": len(resolved), "met": len(attained),
                           "rate": ratio(len(attained), len(resolved))},
        "backlog": {"open": len(backlog_ages), "age_p50_seconds": percentile(backlog_ages, 50),
                    "age_p90_seconds": percentile(backlog_ages, 90),
                    "age_max_seconds": max(backlog_ages) if backlog_ages else None},
        "output": len(resolved),
        "cost_per_ticket": _cost(tickets, period, policy, staffed, lens),
    }


def _cost(tickets: Sequence[Ticket], period: Period, policy: KpiPolicy,
          staffed: dict[str, float] | None, lens: Lens) -> float | None:
    """Agent hours in the period x cost per hour / tickets resolved in the period; only for
    the whole, an agent, a tier or a team (a category has no hours of its own)."""
    if staffed is None or (lens.group_by is not None and not lens.by_holder):
        return None
    done = [t for t in tickets if t.resolved_at in period and lens.resolved(t)]
    if lens.group_by is None:
        seconds = sum(staffed.values())
    else:  # the agents of the group: by id, by the tier or team they held tickets in
        groups = {a.agent_id: holder_key(a, lens.group_by) for t in tickets
                  for a in t.assignments}
        seconds = sum(s for agent, s in staffed.items() if groups.get(agent) == lens.key)
    return round(seconds / 3600 * policy.cost_per_agent_hour / len(done), 2) if done else None


def volume(tickets: Iterable[Ticket], period: Period) -> dict[str, dict[str, int]]:
    """Contacts created in the period by category, type, channel and hour of day (UTC)."""
    cohort = [t for t in tickets if t.created_at in period]
    return {
        "category": dict(sorted(Counter(t.category or "" for t in cohort).items())),
        "type": dict(sorted(Counter(t.ticket_type or "" for t in cohort).items())),
        "channel": dict(sorted(Counter(t.channel or "" for t in cohort).items())),
        "hour": {f"{h:02d}": n for h, n in sorted(
            Counter(t.created_at.hour for t in cohort if t.created_at).items())},
    }


def report(tickets: Sequence[Ticket], period: Period, policy: KpiPolicy,
           business: BusinessSeconds = wall_clock, staffed: dict[str, float] | None = None,
           group_by: GroupBy | None = None) -> dict[str, Any]:
    """The whole report: the overall set with its breakdowns, or one set per group."""
    if group_by is not None:
        return {"group_by": group_by, "groups": [
            {"key": key, **kpi_set(tickets, period, policy, business, staffed,
                                   Lens(group_by, key))}
            for key in group_keys((t for t in tickets if t.created_at in period), group_by)]}

    def by(group: GroupBy, section: str) -> dict[str, Any]:
        return {key: kpi_set(tickets, period, policy, business, staffed, Lens(group, key))[section]
                for key in group_keys((t for t in tickets if t.created_at in period), group)}

    overall = kpi_set(tickets, period, policy, business, staffed)
    return {**overall,
            "fcr_by_channel": by("channel", "fcr"),
            "escalation_by_tier": by("tier", "escalation"),
            "resolution_seconds_by_tier": by("tier", "resolution_seconds"),
            "sla_attainment_by_priority": by("priority", "sla_attainment"),
            "volume": volume(tickets, period)}
