"""What each read-model row adds to Prometheus' counters: pure, no I/O.

Metrics keeps every counter it exposes as a total in ``counter_totals``, keyed by the
counter's name and up to two label values. A batch moves the totals by what it changed:
for each row it touched, what the row counts for after the batch minus what it counted for
before (:func:`change`). So a scrape reads one small table, never a GROUP BY over the read
models, every replica agrees, and a restart resets nothing. The rebuild sums the same
functions over the rows it copies in, so live and rebuilt totals are equal by construction
and checked equal by the tests.

A row counts for (the figures the exposition had computed with GROUP BYs before):

- ticket facts: created, to route (not deflected) and assigned tickets by priority and
  category; first-response and resolution histograms by priority (bucket counts, the sum in
  microseconds, the count); resolutions (resolved or closed now, plus each reopen) and
  reopens by priority; deflected contacts by channel; CSAT answers by score; NPS answers by
  group; open tickets (the backlog) by priority; resolutions by agent;
- an SLA warning or breach, by clock and priority; an escalation, by kind and trigger;
- a major incident, and one not yet closed by its stage; a problem;
- a voice-of-the-customer signal, by kind.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

Key = tuple[str, str, str]  # counter, label, label ("" where a counter has fewer)
Totals = Counter[Key]

# Support times: a minute to a week.
BUCKETS_S = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200, 604800)
CLOSED = ("resolved", "closed")  # a ticket in either is no longer open
INCIDENT_STAGES = ("declared", "restored", "resolved")

# The columns of a ticket's facts that any counter reads.
TICKET_COLUMNS = ("created_at", "created_priority", "created_category", "deflected",
                  "assigned_at", "assigned_priority", "assigned_category", "first_response_at",
                  "resolved_at", "status", "reopen_count", "channel", "csat", "nps", "agent_id")
INCIDENT_COLUMNS = ("restored_at", "resolved_at", "closed_at")
# A new row's values before a batch names them: the tables' server defaults.
DEFAULTS: dict[str, Any] = {"reopen_count": 0, "deflected": False}

_BOUNDS = tuple(str(b) for b in BUCKETS_S)
_BOUNDS_US = tuple(b * 1_000_000 for b in BUCKETS_S)
_FIRST_RESPONSE = ("first_response_bucket", "first_response_sum_us", "first_response_count")
_RESOLUTION = ("resolution_bucket", "resolution_sum_us", "resolution_count")


def _label(value: Any) -> str:
    return "" if value is None else str(value)


def _micros(start: datetime, end: datetime) -> int:
    delta = end - start
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ticket(row: Mapping[str, Any] | None, out: Totals | None = None) -> Totals:
    """What one ticket's facts count for; added into ``out`` when given (the rebuild sums
    every row into one total)."""
    if out is None:
        out = Counter()
    if row is None:
        return out
    created, priority = row.get("created_at"), row.get("created_priority")
    deflected, status = row.get("deflected"), row.get("status")
    if created is not None:
        labels = (_label(priority), _label(row.get("created_category")))
        out["tickets_created", *labels] += 1
        if deflected is False:
            out["tickets_to_route", *labels] += 1
    if row.get("assigned_at") is not None:
        out["tickets_assigned", _label(row.get("assigned_priority")),
            _label(row.get("assigned_category"))] += 1
    known = created is not None and priority is not None and deflected is False
    if known:
        for names, end in ((_FIRST_RESPONSE, row.get("first_response_at")),
                           (_RESOLUTION, row.get("resolved_at"))):
            if end is None:
                continue
            bucket, sum_us, count = names
            micros = _micros(created, end)
            # every bucket whose bound is at or above it (cumulative, as Prometheus has them)
            for bound in _BOUNDS[bisect_left(_BOUNDS_US, micros):]:
                out[bucket, priority, bound] += 1
            out[sum_us, priority, ""] += micros
            out[count, priority, ""] += 1
        reopens = row.get("reopen_count") or 0
        out["tickets_resolved", priority, ""] += reopens + (status in CLOSED)
        out["tickets_reopened", priority, ""] += reopens
        if status not in CLOSED:
            out["backlog", priority, ""] += 1
    if deflected is True and row.get("channel") is not None:
        out["tickets_deflected", row["channel"], ""] += 1
    csat = row.get("csat")
    if csat is not None and 1 <= csat <= 5:
        out["csat_responses", str(csat), ""] += 1
    nps = row.get("nps")
    if nps is not None:
        group = "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
        out["nps_responses", group, ""] += 1
    if row.get("agent_id") is not None and status in CLOSED:
        out["agent_resolved", row["agent_id"], ""] += 1
    return out  # zeros kept: a group with none yet is shown as 0, as GROUP BY showed it


def incident(row: Mapping[str, Any] | None, out: Totals | None = None) -> Totals:
    """What one major incident's row counts for (added into ``out`` when given)."""
    if out is None:
        out = Counter()
    if row is None:
        return out
    out["major_incidents", "", ""] += 1
    if row.get("closed_at") is None:
        stage = ("resolved" if row.get("resolved_at") is not None
                 else "restored" if row.get("restored_at") is not None else "declared")
        out["major_incidents_open", stage, ""] += 1
    return out


def problem(row: Mapping[str, Any] | None, out: Totals | None = None) -> Totals:
    if out is None:
        out = Counter()
    if row is not None:
        out["problems", "", ""] += 1
    return out


def sla_event(row: Mapping[str, Any]) -> Key:
    kind = "sla_warnings" if row["kind"] == "warning" else "sla_breaches"
    return (kind, row["clock"], row["priority"])


def escalation(row: Mapping[str, Any]) -> Key:
    return ("escalations", row["kind"], row["trigger"])


def merged(before: Mapping[str, Any] | None, changes: Mapping[str, tuple[str, Any]],
           columns: Iterable[str]) -> dict[str, Any]:
    """``columns`` of a row after ``changes`` (a fold's ``Row.changes``) apply to it as the
    writer's UPDATE applies them: set, first (kept if already set), max (the greatest,
    ignoring NULL) and add."""
    after = {name: (DEFAULTS.get(name) if before is None else before.get(name))
             for name in columns}
    for name, (op, value) in changes.items():
        if name not in after:
            continue
        old = after[name]
        if op == "set":
            after[name] = value
        elif op == "first":
            after[name] = value if old is None else old
        elif op == "max":
            after[name] = value if old is None else old if value is None else max(old, value)
        else:  # add
            after[name] = (old or 0) + value
    return after


def change(before: Totals, after: Totals) -> Totals:
    """``after - before``: negative counts kept (a ticket leaving the backlog), zeros only
    where ``after`` names the key (so its total exists, as 0 if need be)."""
    out = Counter(after)
    out.subtract(before)
    return Counter({k: n for k, n in out.items() if n or k in after})
