"""``GET /v1/reports/summary``: the counters Prometheus scrapes, as one JSON report."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter

from tierline_metrics.context import metrics_context
from tierline_shared.auth.deps import require
from tierline_shared.runtime import Runtime
from tierline_shared.web import RuntimeDep

router = APIRouter(prefix="/v1", tags=["reports"])


async def refresh_counters(runtime: Runtime) -> None:
    """Read the counter totals into the collectors (metrics' periodic job, and each summary)."""
    counters = metrics_context(runtime).counters
    async with runtime.sessions() as session:
        await counters.refresh(session)


@router.get("/reports/summary",
            dependencies=[require("reports:read")])
async def summary(runtime: RuntimeDep) -> dict[str, object]:
    """Ticket counts by priority and category, as created and as assigned; escalations by
    kind and trigger; SLA breaches by priority (all clocks); major incidents open (not yet
    closed) and in all."""
    await refresh_counters(runtime)
    counters = metrics_context(runtime).counters
    tickets, sla = counters.tickets, counters.sla
    breaches: Counter[str] = Counter()
    for (_, priority), n in sla.breaches.items():
        breaches[priority] += n
    return {
        "created": [{"priority": p, "category": c, "count": n}
                    for (p, c), n in sorted(tickets.created.items())],
        "assigned": [{"priority": p, "category": c, "count": n}
                     for (p, c), n in sorted(tickets.assigned.items())],
        "escalations": [{"kind": k, "trigger": t, "count": n}
                        for (k, t), n in sorted(sla.escalations.items())],
        "breaches": [{"priority": p, "count": n} for p, n in sorted(breaches.items())],
        "major_incidents": {"open": sum(sla.major_incidents_open.values()),
                            "total": sla.major_incidents},
    }
