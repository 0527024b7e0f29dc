"""The staffing round trip, measured: per interval of the day, the service level the plan
promised (Erlang C, in steady state), the share the twin answered within the target, and
the range in which that share falls in runs of the same day in memory: the same volumes,
the same agents per interval, first come first served, an agent going off shift finishing
what they hold. An interval can miss the promise because Erlang C assumes each interval
in steady state (a backlog carried over, or agents still busy when the next interval's
rate arrives, it does not see), because its tickets are few, or because the router adds
time; the in-memory day separates the first two from the last. Pure, but for the chart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tierline_shared.sim.report import Story
from tierline_shared.sim.scenario import Scenario


def day_ranges(volumes: list[float], agents: list[int], interval_s: float, aht_s: float,
               threshold_s: float, replications: int, confidence: float = 0.95,
               seed: int = 0) -> list[tuple[float, float] | None]:
    """Per interval, where the share answered within ``threshold_s`` of the tickets
    arriving in it falls in ``confidence`` of in-memory runs of the day. Agent i is on
    shift in interval k when i < agents[k]; after the day the last interval's staffing
    drains the queue."""
    rng = np.random.default_rng(seed)
    intervals = len(volumes)
    top = max(max(agents), 1)
    on = np.array([[i < n for n in agents] for i in range(top)])  # agent x interval
    # next_on[i, k]: the first interval >= k in which agent i is on shift (intervals: never)
    next_on = np.full((top, intervals + 1), intervals, dtype=int)
    for k in range(intervals - 1, -1, -1):
        next_on[:, k] = np.where(on[:, k], k, next_on[:, k + 1])
    last_on = on[:, -1]
    shares = np.full((replications, intervals), np.nan)
    for r in range(replications):
        counts = rng.poisson(np.asarray(volumes))
        times = np.sort(np.concatenate([
            (k + rng.random(c)) * interval_s for k, c in enumerate(counts)]))
        handles = rng.exponential(aht_s, len(times))
        free = np.zeros(top)
        within = np.zeros(intervals)
        for t, h in zip(times, handles, strict=True):
            ready = np.maximum(free, t)
            k = np.minimum((ready // interval_s).astype(int), intervals)
            nk = next_on[np.arange(top), k]
            start = np.where(nk == k, ready, nk * interval_s)
            # past the day the last interval's staffing drains the queue; an agent off shift
            # for the rest of the day takes nothing more
            after = k >= intervals
            start = np.where(after, np.where(last_on, ready, np.inf), start)
            start = np.where(~after & (nk >= intervals), np.inf, start)
            chosen = int(np.argmin(start))
            begin = start[chosen]
            within[int(t // interval_s)] += begin - t <= threshold_s
            free[chosen] = begin + h
        shares[r] = np.where(counts > 0, within / np.maximum(counts, 1), np.nan)
    tail = (1 - confidence) / 2
    out: list[tuple[float, float] | None] = []
    for k in range(intervals):
        column = shares[:, k][~np.isnan(shares[:, k])]
        out.append(None if len(column) == 0 else
                   (float(np.quantile(column, tail)), float(np.quantile(column, 1 - tail))))
    return out


def measure(scenario: Scenario, stories: list[Story], plan: list[dict[str, Any]],
            confidence: float = 0.95, hold_s: float | None = None) -> list[dict[str, Any]]:
    """Each interval: volume, planned agents, the plan's service level, tickets, the share
    answered within the target as the customer saw it and as router alone did, the
    in-memory range, and whether the measured share meets the target within that range.
    With ``hold_s`` (the mean time an agent's capacity was held, offer to release, as
    measured: the handle time plus the hops), also the range of in-memory runs of the day
    at that hold, which router alone is held against (the load router actually carried, as
    the homogeneous runs hold it against Erlang C at the measured hold), and per interval
    the mean time the capacity was held beyond the handle time."""
    staffing = scenario.staffing
    assert staffing is not None
    interval_s = staffing.interval_minutes * 60
    threshold = scenario.service_level_seconds
    aht = scenario.handle_time[scenario.agents[0].tier].mean_s
    agents = [row["agents"] for row in plan]
    ranges = day_ranges(staffing.volumes, agents, interval_s, aht, threshold,
                        staffing.replications, confidence, scenario.seed)
    at_hold = (day_ranges(staffing.volumes, agents, interval_s, hold_s, threshold,
                          staffing.replications, confidence, scenario.seed)
               if hold_s is not None else [None] * len(plan))
    rows = []
    for k, row in enumerate(plan):
        begin = scenario.start + timedelta(seconds=k * interval_s)
        end = begin + timedelta(seconds=interval_s)
        mine = [s for s in stories if begin <= s.arrived < end and s.offers]
        customer = [(s.offers[0][0] - s.arrived).total_seconds() for s in mine]
        alone = [(s.offers[0][0] - s.routed_at).total_seconds() for s in mine
                 if s.routed_at is not None]
        beyond = [(s.released_at - s.offers[0][0]).total_seconds() - s.handle_s for s in mine
                  if s.released_at is not None and s.handle_s is not None]
        measured = (sum(w <= threshold for w in customer) / len(customer)) if customer else None
        policy = (sum(w <= threshold for w in alone) / len(alone)) if alone else None
        bounds, hold_bounds = ranges[k], at_hold[k]
        rows.append({
            "interval": k, "volume": row["volume"], "agents": row["agents"],
            "plan_service_level": row["service_level"], "tickets": len(mine),
            "service_level": measured, "router_alone": policy,
            "runs": bounds, "runs_at_hold": hold_bounds,
            "hold_beyond_handle_s": sum(beyond) / len(beyond) if beyond else None,
            "meets_target": measured is not None and measured >= staffing.service_level,
            "within_runs": measured is not None and bounds is not None
            and bounds[0] <= measured <= bounds[1],
            "router_alone_within_runs_at_hold": policy is not None and hold_bounds is not None
            and hold_bounds[0] <= policy <= hold_bounds[1]})
    return rows


def _verdict(r: dict[str, Any], target: float) -> str:
    if r["service_level"] is None:
        return "no tickets"
    if r["meets_target"]:
        return "meets the target"
    if r["runs"] is None or r["runs"][1] < target:
        return "the same day in memory misses too: the plan (steady state per interval)"
    if r["within_runs"]:
        return "below the target, within the range of runs: chance"
    if r["runs_at_hold"] is not None and r["router_alone_within_runs_at_hold"]:
        return ("below the range of runs; router alone within the runs at the measured "
                "hold: the hops")
    return "below the range of runs: the services (routing or hops)"


def table(rows: list[dict[str, Any]], target: float) -> str:
    def fmt(v: float | None, digits: int = 3) -> str:
        return "" if v is None else f"{v:.{digits}f}"

    def span(bounds: tuple[float, float] | None) -> str:
        return "" if bounds is None else f"{bounds[0]:.3f} to {bounds[1]:.3f}"

    lines = ["| interval | volume | agents | plan (Erlang C) | tickets | measured | in-memory runs "
             "| router alone | runs at the measured hold | held beyond handle (s) | verdict |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['interval']} | {r['volume']:g} | {r['agents']} | "
                     f"{r['plan_service_level']:.3f} | {r['tickets']} | "
                     f"{fmt(r['service_level'])} | {span(r['runs'])} | "
                     f"{fmt(r['router_alone'])} | {span(r.get('runs_at_hold'))} | "
                     f"{fmt(r.get('hold_beyond_handle_s'), 1)} | {_verdict(r, target)} |")
    return "\n".join(lines)


def chart(rows: list[dict[str, Any]], target: float, interval_minutes: int,
          path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [r["interval"] * interval_minutes / 60 for r in rows]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.plot(hours, [r["plan_service_level"] for r in rows], "o--", label="plan (Erlang C)")
    measured = [np.nan if r["service_level"] is None else r["service_level"] for r in rows]
    low = [np.nan if r["runs"] is None else r["runs"][0] for r in rows]
    high = [np.nan if r["runs"] is None else r["runs"][1] for r in rows]
    ax.fill_between(hours, low, high, step=None, alpha=0.2, label="range of in-memory runs")
    ax.plot(hours, measured, "s-", label="measured through the services")
    held = [r.get("runs_at_hold") for r in rows]
    if any(b is not None for b in held):
        ax.fill_between(hours, [np.nan if b is None else b[0] for b in held],
                        [np.nan if b is None else b[1] for b in held], alpha=0.12,
                        color="C2", label="in-memory runs at the measured hold")
    ax.plot(hours, [np.nan if r["router_alone"] is None else r["router_alone"] for r in rows],
            "^:", color="C2", label="router alone")
    ax.axhline(target, color="grey", linewidth=0.8, label="target")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("hours from the start of the day")
    ax.set_ylabel("answered within the target")
    ax2 = ax.twinx()
    ax2.step(hours, [r["agents"] for r in rows], where="post", color="black", alpha=0.3)
    ax2.set_ylabel("planned agents")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Staffing round trip: the plan's promise against the twin, per interval")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
