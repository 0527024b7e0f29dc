"""A homogeneous run held against Erlang C: measured P(wait), service level, ASA and
occupancy with batch-means confidence intervals, next to Erlang C for the offered load; and
the router's own overheads as distributions of their own, so they can be taken out.

Two views of each ticket's wait:

- **as the customer sees it**: from the moment intake answered the ticket's POST to the
  moment router offered it to an agent. It holds the time the ticket takes to reach router
  (outbox, broker, consumer), which Erlang C does not know about.
- **the routing policy alone**: from router's first step on the ticket (offered at once, or
  queued) to the offer. Against it stands Erlang C for the load router actually carried: the
  measured arrival rate times the measured time an agent's capacity was held (offer to
  release), which holds the time the offer takes to reach the agent and the resolution to
  come back, besides the handle time.

Pure, but for the chart."""

from __future__ import annotations

import heapq
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tierline_shared.erlang import QueueFigures, erlang_c_figures, queue_figures
from tierline_shared.sim.batch_means import Interval, batch_means, t_interval
from tierline_shared.sim.report import Story
from tierline_shared.sim.scenario import Scenario


def slots_and_rates(scenario: Scenario) -> tuple[int, float, float]:
    """Agents' slots on the one channel, arrivals per second and the mean handle time."""
    group = scenario.agents[0]
    channel = next(iter(scenario.arrivals))
    per_agent = group.channels[channel]  # type: ignore[index]
    if group.max_total is not None:
        per_agent = min(per_agent, group.max_total)
    rate = scenario.arrivals[channel].per_hour / 3600  # type: ignore[index]
    return group.count * per_agent, rate, scenario.handle_time[group.tier].mean_s


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds()


def distribution(values: list[float], speed: float) -> dict[str, float | int | None]:
    """Mean and percentiles in simulated seconds, and the mean in real milliseconds."""
    if not values:
        return {"count": 0, "mean_s": None, "p50_s": None, "p90_s": None, "p99_s": None,
                "mean_real_ms": None}
    arr = np.asarray(values)
    return {"count": len(values), "mean_s": round(float(arr.mean()), 3),
            "p50_s": round(float(np.percentile(arr, 50)), 3),
            "p90_s": round(float(np.percentile(arr, 90)), 3),
            "p99_s": round(float(np.percentile(arr, 99)), 3),
            "mean_real_ms": round(float(arr.mean()) / speed * 1000, 1)}


def overheads(stories: list[Story], speed: float) -> dict[str, dict[str, float | int | None]]:
    """The router's own overheads over the tickets an agent was offered (and the customer
    did not abandon), each as a distribution of its own (simulated seconds, and the mean in
    real milliseconds): arrival to router's first step; arrival to offer when router found
    an agent free; offer to accept (the offer reaching the agent over Kafka and the accept
    coming back); resolution sent to capacity freed; and the time an agent's capacity was
    held (offer to release) beyond the handle time. Every homogeneous, round-trip and
    skills run reports these, from this one function."""
    served = [s for s in stories if s.offers and not s.abandoned]
    return {
        "arrival_to_router": distribution(
            [x for s in served if (x := _seconds(s.arrived, s.routed_at)) is not None], speed),
        "arrival_to_offer_when_free": distribution(
            [(s.offers[0][0] - s.arrived).total_seconds() for s in served
             if s.routed_at is not None and not s.queued], speed),
        "offer_to_accept": distribution(
            [x for s in served if (x := _seconds(s.offers[0][0], s.accepted_at)) is not None],
            speed),
        "resolution_to_release": distribution(
            [x for s in served if (x := _seconds(s.resolving_at, s.released_at)) is not None],
            speed),
        "hold_beyond_handle": distribution(
            [h - s.handle_s for s in served if s.handle_s is not None and
             (h := _seconds(s.offers[0][0], s.released_at)) is not None], speed)}


def mean_hold(stories: list[Story]) -> float | None:
    """The mean time an agent's capacity was held, offer to release, over the tickets an
    agent was offered and finished: the handle time plus the hops."""
    holds = [h for s in stories if s.offers and not s.abandoned
             and (h := _seconds(s.offers[0][0], s.released_at)) is not None]
    return float(np.mean(holds)) if holds else None


def ideal_waits(stories: list[Story], slots: int) -> dict[str, float]:
    """Each ticket's wait in an ideal queue fed with the same tickets: the times they reached
    router and the times their agents' capacity was held (offer to release, as measured),
    replayed through ``slots`` first-come-first-served servers that never idle while work
    waits, all free at the start. A work-conserving first-come-first-served router offers
    each ticket exactly then (which server takes a ticket does not change when it starts),
    so the difference from router's own waits is the routing policy's alone: the arrivals'
    chance and the hops' length are the same on both sides. Tickets never offered or never
    released are left out (they held no capacity, or held it past the end)."""
    fed = sorted((s for s in stories if s.routed_at is not None and s.offers
                  and not s.abandoned and s.released_at is not None),
                 key=lambda s: s.routed_at)  # type: ignore[arg-type, return-value]
    if not fed:
        return {}
    origin = min(s.routed_at for s in fed)  # type: ignore[type-var]
    free = [0.0] * slots
    out = {}
    for s in fed:
        at = (s.routed_at - origin).total_seconds()  # type: ignore[operator]
        start = max(at, free[0])
        out[s.ticket_id] = start - at
        heapq.heapreplace(free, start + (s.released_at - s.offers[0][0]).total_seconds())  # type: ignore[operator]
    return out


def _occupancy(stories: list[Story], slots: int, start: datetime, end: datetime,
               batches: int, confidence: float) -> Interval:
    """Share of the slots held (offer to release) in each of ``batches`` equal windows of
    [start, end); the interval over the windows."""
    span = (end - start).total_seconds() / batches
    held = [0.0] * batches
    for s in stories:
        if not s.offers:
            continue
        begin = (s.offers[0][0] - start).total_seconds()
        finish = ((s.released_at or end) - start).total_seconds()
        for b in range(max(0, int(begin // span)), min(batches, int(finish // span) + 1)):
            held[b] += max(0.0, min(finish, (b + 1) * span) - max(begin, b * span))
    return t_interval([h / (slots * span) for h in held], confidence)


def erlang_c_run_interval(slots: int, load: float, aht_s: float, threshold_s: float,
                          tickets: int, warmup: int = 0, confidence: float = 0.99,
                          replications: int = 400, seed: int = 0) -> tuple[float, float]:
    """Where the service level measured over ``tickets`` tickets (after ``warmup``, from an
    empty start) falls in ``confidence`` of runs if the system is the M/M/n queue Erlang C
    describes: quantiles over replications of that run in memory. A short run's measured
    share is skewed and biased by the empty start, so a batch-means interval covers Erlang
    C's steady-state figure less often than it says; this interval does not assume
    normality, only the model."""
    rng = np.random.default_rng(seed)
    total = tickets + warmup
    shares = np.empty(replications)
    for r in range(replications):
        arrive = np.cumsum(rng.exponential(aht_s / load, total))
        handle = rng.exponential(aht_s, total)
        free = [0.0] * slots
        within = 0
        for i in range(total):
            start = max(free[0], float(arrive[i]))
            if i >= warmup:
                within += start - float(arrive[i]) <= threshold_s
            heapq.heapreplace(free, start + float(handle[i]))
        shares[r] = within / tickets
    tail = (1 - confidence) / 2
    return float(np.quantile(shares, tail)), float(np.quantile(shares, 1 - tail))


def _figures(f: QueueFigures) -> dict[str, float]:
    return {"probability_wait": f.probability_wait, "service_level": f.service_level,
            "asa_s": f.asa_s, "occupancy": f.occupancy,
            "probability_abandon": f.probability_abandon}


def compare(scenario: Scenario, stories: list[Story], speed: float) -> dict[str, Any]:
    """The figures for one run. Only tickets that arrived after the warm-up and before the
    arrivals stopped count; occupancy over that same span."""
    assert scenario.theory is not None
    theory = scenario.theory
    slots, rate, aht = slots_and_rates(scenario)
    threshold = scenario.service_level_seconds
    begin = scenario.start + timedelta(minutes=theory.warmup_minutes)
    stop = scenario.start + timedelta(minutes=scenario.duration_minutes)
    kept = sorted((s for s in stories if begin <= s.arrived < stop), key=lambda s: s.arrived)
    patience = (None if scenario.outcomes.patience_minutes is None
                else scenario.outcomes.patience_minutes * 60)

    def model(load: float, hold: float) -> QueueFigures:  # Erlang A when customers abandon
        return queue_figures(slots, load, hold, threshold, patience)

    seen = [s for s in kept if s.routed_at is not None]  # router saw them: measured
    served = [s for s in seen if s.offers and not s.abandoned]
    nominal = model(rate * aht, aht)
    out: dict[str, Any] = {
        "agents": scenario.agents[0].count, "slots": slots, "arrivals_per_hour": rate * 3600,
        "aht_s": aht, "offered_load": rate * aht, "occupancy_offered": rate * aht / slots,
        "service_level_seconds": threshold, "tickets": len(kept), "measured": len(seen),
        "patience_s": patience, "model": "Erlang C" if patience is None else "Erlang A",
        "erlang_c": _figures(nominal)}
    if len(seen) < 2 * theory.batches:
        out["note"] = f"only {len(seen)} tickets measured: too few for {theory.batches} batches"
        return out

    def wait(s: Story, since: datetime | None) -> float:
        """To the offer; an abandoned ticket waited its customer's patience."""
        if s.offers and not s.abandoned:
            return (s.offers[0][0] - since).total_seconds()  # type: ignore[operator]
        return s.patience_s if s.patience_s is not None else math.inf

    customer = [wait(s, s.arrived) for s in seen]
    policy = [wait(s, s.routed_at) for s in seen]
    answered = [not s.abandoned and bool(s.offers) for s in seen]
    waited = [1.0 if s.queued else 0.0 for s in seen]

    def ci(values: list[float]) -> dict[str, float | int]:
        return batch_means(values, theory.batches, theory.confidence).as_dict()

    span_s = (stop - begin).total_seconds()
    carried_rate = len(kept) / span_s
    measured_hold = mean_hold(served)
    hold = aht if measured_hold is None else measured_hold
    effective = model(carried_rate * hold, hold) \
        if carried_rate * hold < slots or patience is not None else None
    occupancy = _occupancy(served, slots, begin, stop, theory.batches, theory.confidence)
    out |= {
        "measured_arrivals_per_hour": carried_rate * 3600, "mean_hold_s": hold,
        "carried_load": carried_rate * hold,
        "erlang_c_at_measured_hold": _figures(effective) if effective else None,
        "customer": {"service_level": ci([1.0 if a and w <= threshold else 0.0
                                          for a, w in zip(answered, customer, strict=True)]),
                     "asa_s": ci(customer)},
        "policy": {"probability_wait": ci(waited),
                   "service_level": ci([1.0 if a and w <= threshold else 0.0
                                        for a, w in zip(answered, policy, strict=True)]),
                   "asa_s": ci(policy)},
        "probability_abandon": ci([0.0 if a else 1.0 for a in answered]),
        "occupancy": occupancy.as_dict(),
        "overheads": overheads(served, speed),
    }
    ideal = ideal_waits(stories, slots) if patience is None else {}
    paired = [(wait(s, s.routed_at), ideal[s.ticket_id]) for s in seen if s.ticket_id in ideal]
    if len(paired) >= 2 * theory.batches:
        gaps = np.abs([m - i for m, i in paired])
        out["ideal_queue"] = {
            "tickets": len(paired),
            "router_alone": ci([1.0 if m <= threshold else 0.0 for m, _ in paired]),
            "service_level": ci([1.0 if i <= threshold else 0.0 for _, i in paired]),
            "difference": ci([(m <= threshold) - (i <= threshold) for m, i in paired]),
            "mean_wait_gap_s": float(np.mean([m - i for m, i in paired])),
            "mean_abs_wait_gap_s": float(gaps.mean()),
            "p99_abs_wait_gap_s": float(np.percentile(gaps, 99)),
            "later_than_ideal_by_1s": int(sum(m - i > 1.0 for m, i in paired))}
    out["within"] = {
        "customer_service_level": _inside(out["customer"]["service_level"],
                                          nominal.service_level),
        "policy_service_level": effective is not None and _inside(
            out["policy"]["service_level"], effective.service_level),
        "policy_probability_wait": effective is not None and _inside(
            out["policy"]["probability_wait"], effective.probability_wait)}
    if patience is not None:
        out["within"]["probability_abandon"] = _inside(out["probability_abandon"],
                                                       nominal.probability_abandon)
        return out  # the in-memory runs below are of M/M/n, without abandonment
    # Where runs of this length of the M/M/n queue itself land (the empty start included)
    warm = round(rate * theory.warmup_minutes * 60)
    out["erlang_c"]["service_level_runs"] = erlang_c_run_interval(
        slots, rate * aht, aht, threshold, len(served), warm, theory.confidence, 200)
    if effective is not None:
        out["erlang_c_at_measured_hold"]["service_level_runs"] = erlang_c_run_interval(
            slots, carried_rate * hold, hold, threshold, len(served), warm, theory.confidence,
            200)
    out["within"]["customer_service_level_runs"] = _in_range(
        out["customer"]["service_level"]["mean"], out["erlang_c"]["service_level_runs"])
    out["within"]["policy_service_level_runs"] = effective is not None and _in_range(
        out["policy"]["service_level"]["mean"],
        out["erlang_c_at_measured_hold"]["service_level_runs"])
    sl_half = out["customer"]["service_level"]["half_width"]
    # the half-width shrinks as 1/sqrt(tickets): what +-1 point would take
    out["tickets_for_1pp"] = math.ceil(len(served) * (sl_half / 0.01) ** 2) if sl_half else 0
    return out


def _in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _inside(interval: dict[str, float | int], value: float) -> bool:
    return bool(interval["low"] <= value <= interval["high"])


def _ci(interval: dict[str, Any] | None, scale: float = 1.0, digits: int = 3) -> str:
    if not interval:
        return ""
    return (f"{interval['mean'] * scale:.{digits}f} "
            f"[{interval['low'] * scale:.{digits}f}, {interval['high'] * scale:.{digits}f}]")


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: per run and figure, Erlang C against what was measured, both views."""
    model = "Erlang A" if any(r.get("patience_s") for r in results.values()) else "Erlang C"
    lines = [f"| run | agents | offered occupancy | tickets | figure | {model} | measured "
             f"(arrival to offer) | {model} at the measured hold | router alone |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        if "customer" not in r:
            lines.append(f"| {name} | {r['agents']} | {r['occupancy_offered']:.3f} | "
                         f"{r['measured']} | {r.get('note', '')} | | | | |")
            continue
        c, e = r["erlang_c"], r["erlang_c_at_measured_hold"] or {}
        head = f"| {name} | {r['agents']} | {r['occupancy_offered']:.3f} | {r['measured']} |"
        rows = [
            ("P(wait)", c["probability_wait"], "", e.get("probability_wait"),
             _ci(r["policy"]["probability_wait"])),
            (f"answered within {r['service_level_seconds']:g} s", c["service_level"],
             _ci(r["customer"]["service_level"]), e.get("service_level"),
             _ci(r["policy"]["service_level"])),
            ("ASA (s)", c["asa_s"], _ci(r["customer"]["asa_s"], digits=1), e.get("asa_s"),
             _ci(r["policy"]["asa_s"], digits=1)),
            ("occupancy", c["occupancy"], _ci(r["occupancy"]), e.get("occupancy"), ""),
        ]
        if r.get("patience_s"):
            rows.append(("P(abandon)", c["probability_abandon"],
                         _ci(r["probability_abandon"]), e.get("probability_abandon"), ""))
        for i, (label, model, measured, effective, alone) in enumerate(rows):
            digits = 1 if label.startswith("ASA") else 3
            shown = f"{model:.{digits}f}"
            eff = "" if effective is None else f"{effective:.{digits}f}"
            if label.startswith("answered"):
                shown += _runs(c)
                eff += _runs(e)
            lines.append(f"{head if i == 0 else '| | | | |'} {label} | {shown} | "
                         f"{measured} | {eff} | {alone} |")
    return "\n".join(lines)


def _runs(figures: dict[str, Any]) -> str:
    runs = figures.get("service_level_runs")
    return "" if not runs else f" (runs: {runs[0]:.3f} to {runs[1]:.3f})"


def overhead_table(results: dict[str, dict[str, Any]]) -> str:
    steps = [("arrival_to_router", "arrival to router's first step"),
             ("arrival_to_offer_when_free", "arrival to offer, an agent free"),
             ("offer_to_accept", "offer to accept"),
             ("resolution_to_release", "resolution sent to capacity freed"),
             ("hold_beyond_handle", "capacity held beyond the handle time")]
    lines = ["| run | step | n | mean (s) | p50 (s) | p90 (s) | p99 (s) | mean, real ms |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        for key, label in steps:
            d = r.get("overheads", {}).get(key)
            if d and d["count"]:
                lines.append(f"| {name} | {label} | {d['count']} | {d['mean_s']} | "
                             f"{d['p50_s']} | {d['p90_s']} | {d['p99_s']} | "
                             f"{d['mean_real_ms']} |")
    return "\n".join(lines)


def ideal_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: router alone against the ideal queue fed with the same tickets and holds."""
    lines = ["| run | tickets | router alone within the target | ideal queue, same tickets | "
             "difference (router - ideal) | mean gap in wait (s) | p99 gap (s) | "
             "offered > 1 s later than ideal |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        q = r.get("ideal_queue")
        if not q:
            continue
        lines.append(f"| {name} | {q['tickets']} | {_ci(q['router_alone'])} | "
                     f"{_ci(q['service_level'])} | {_ci(q['difference'])} | "
                     f"{q['mean_abs_wait_gap_s']:.2f} | {q['p99_abs_wait_gap_s']:.2f} | "
                     f"{q['later_than_ideal_by_1s']} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def chart(results: dict[str, dict[str, Any]], path: Path) -> Path:
    """Service level and P(wait) against offered occupancy: Erlang C's curve for each run's
    agents, the measured intervals, and Erlang C at the measured hold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    runs = [(n, r) for n, r in results.items() if "customer" in r]
    for ax, key, title in ((axes[0], "service_level", "answered within the target"),
                           (axes[1], "probability_wait", "P(wait)")):
        for i, (name, r) in enumerate(runs):
            slots, aht, t = r["slots"], r["aht_s"], r["service_level_seconds"]
            top = max(r["occupancy_offered"] + 0.05, r["carried_load"] / slots + 0.02)
            rhos = np.linspace(max(0.3, r["occupancy_offered"] - 0.15), min(0.99, top), 40)
            ax.plot(rhos, [getattr(erlang_c_figures(slots, x * slots, aht, t), key)
                           for x in rhos], color=f"C{i}", alpha=0.5,
                    label=f"Erlang C, {r['agents']} agents")
            x = r["occupancy_offered"]
            ax.plot([x], [r["erlang_c"][key]], "o", color=f"C{i}", mfc="none")
            measured = (r["customer"] if key == "service_level" else r["policy"])[key]
            ax.errorbar([x], [measured["mean"]], yerr=[[measured["mean"] - measured["low"]],
                                                       [measured["high"] - measured["mean"]]],
                        fmt="s", color=f"C{i}", capsize=4, label=f"{name}: measured")
            if key == "service_level":
                alone = r["policy"][key]
                ax.errorbar([x + 0.004], [alone["mean"]],
                            yerr=[[alone["mean"] - alone["low"]], [alone["high"] - alone["mean"]]],
                            fmt="^", color=f"C{i}", capsize=4, alpha=0.7,
                            label=f"{name}: router alone")
            effective = r.get("erlang_c_at_measured_hold")
            if effective:
                ax.plot([r["carried_load"] / slots], [effective[key]], "x", color=f"C{i}")
        ax.set_xlabel("offered occupancy (load / agents)")
        ax.set_title(title)
        ax.set_ylim(0, 1)
    axes[0].legend(fontsize=7)
    fig.suptitle("Tierline's router against Erlang C (o Erlang C, x at the measured hold, "
                 "bars: 95% batch-means intervals)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def splice(readme: Path, marker: str, text: str) -> bool:
    """Put ``text`` between ``<!-- sim:MARKER:start -->`` and its end marker in ``readme``;
    False if the markers are not there."""
    start, end = f"<!-- sim:{marker}:start -->", f"<!-- sim:{marker}:end -->"
    body = readme.read_text()
    if start not in body or end not in body:
        return False
    head, rest = body.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{text.rstrip()}\n{end}{tail}")
    return True
