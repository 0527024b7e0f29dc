"""What the pages show, pure: durations, queues at SLA risk, agents by presence, the day's
KPI tiles. No I/O; the routes pass in what the services answered and the time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

PRESENCES = ("available", "busy", "away", "offline")
RISK_S = 15 * 60  # a waiting ticket is at risk when its SLA is due within this


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def duration(seconds: float) -> str:
    """``1h 05m``, ``4m 09s``, ``12s``; negative durations as ``-4m 09s``."""
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    if s >= 3600:
        return f"{sign}{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{sign}{s // 60}m {s % 60:02d}s"
    return f"{sign}{s}s"


def until(iso: str | None, now: datetime) -> str:
    """Time left until ``iso`` (``-`` prefixed once past), or an em dash without one."""
    when = parse_time(iso)
    return "—" if when is None else duration((when - now).total_seconds())


def clock_time(iso: str | None) -> str:
    when = parse_time(iso)
    return "—" if when is None else when.strftime("%H:%M:%S UTC")


def at_risk(items: Iterable[Mapping[str, Any]], now: datetime, risk_s: float = RISK_S) -> int:
    """Waiting tickets whose SLA is due within ``risk_s`` seconds, or overdue."""
    return sum(1 for i in items
               if (due := parse_time(i.get("sla_due_at"))) is not None
               and (due - now).total_seconds() <= risk_s)


def queue_rows(queues: Iterable[Mapping[str, Any]],
               waiting: Mapping[str, list[Mapping[str, Any]]],
               now: datetime) -> list[dict[str, Any]]:
    """Each queue's depth, oldest age and tickets at SLA risk, deepest first."""
    rows = [{"queue": q["queue"], "depth": q["depth"],
             "oldest": duration(q["oldest_age_s"]), "oldest_s": q["oldest_age_s"],
             "at_risk": at_risk(waiting.get(q["queue"], []), now)} for q in queues]
    return sorted(rows, key=lambda r: (-r["at_risk"], -r["depth"], r["queue"]))


def agents_by_presence(agents: Iterable[Mapping[str, Any]]) -> list[tuple[str, list[dict]]]:
    """Agents grouped by presence (available first), each with load per channel as
    ``chat 1/2``."""
    groups: dict[str, list[dict[str, Any]]] = {p: [] for p in PRESENCES}
    for a in agents:
        load = [f"{ch} {a.get('active_by_channel', {}).get(ch, 0)}/{cap}"
                for ch, cap in sorted(a.get("channels", {}).items())]
        groups.setdefault(a["presence"], []).append(
            {"id": a["id"], "name": a["name"], "tier": a["tier"], "load": load,
             "total": f"{a.get('active_total', 0)}/{a.get('max_total', 0)}"})
    return [(p, sorted(g, key=lambda a: a["id"])) for p, g in groups.items()]


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.0f}%"


def kpi_tiles(report: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    """(label, value, note) for today's service level, FCR and CSAT."""
    if not report:
        return [("Service level", "–", "metrics unavailable"), ("FCR", "–", ""),
                ("CSAT", "–", "")]
    sla = report.get("sla_attainment", {})
    fcr = report.get("fcr", {})
    csat = report.get("csat", {})
    return [("Service level", percent(sla.get("rate")),
             f"{sla.get('met', 0)} of {sla.get('resolved', 0)} resolved in SLA"),
            ("FCR", percent(fcr.get("rate")),
             f"{fcr.get('resolved_first_contact', 0)} of {fcr.get('issues', 0)} issues"),
            ("CSAT", percent(csat.get("rate")),
             f"{csat.get('satisfied', 0)} of {csat.get('responses', 0)} answers 4+")]


def reasons_text(reasons: Mapping[str, Any]) -> str:
    """The routing reasons an agent reads: the rule, why them, what triggered it."""
    parts = [str(reasons[k]) for k in ("rule", "trigger") if reasons.get(k)]
    forced = reasons.get("forced")
    if forced:
        parts.append(f"assigned by {forced.get('by')}: {forced.get('reason')}")
    return " · ".join(parts)
