"""The reference for a skills scenario: the same rules in memory. Router's pure parts (the
routing policy's ``need_for`` and the matcher's ``choose`` and ``why_not``) run in a
discrete-event loop with no services, no broker and no time between hops: a new ticket goes
to the agent ``choose`` picks, or waits; an agent who frees up takes the first waiting
ticket they can (tickets of one priority wait in arrival order, as router's queue orders
them). Service level per queue over many runs of the scenario's length gives the range the
twin's measured share should land in. Pure."""

from __future__ import annotations

import dataclasses
import heapq
import importlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tierline_shared.sim.batch_means import batch_means
from tierline_shared.sim.plan import roster
from tierline_shared.sim.report import Story
from tierline_shared.sim.scenario import Scenario

if TYPE_CHECKING:
    from tierline_router.routing.matcher import AgentView
    from tierline_router.routing.rules import RoutingPolicy, TicketFacts

# The router's pure rules and matcher, found by module name when the reference runs:
# shared imports no service (the import contract), as ``tierline serve`` finds services.
MATCHER, RULES = "tierline_router.routing.matcher", "tierline_router.routing.rules"


def _router() -> tuple[Any, Any]:
    return importlib.import_module(MATCHER), importlib.import_module(RULES)


def _agents(scenario: Scenario) -> dict[str, AgentView]:
    matcher, _ = _router()
    return {agent_id: matcher.AgentView(id=agent_id, tier=body["tier"], skills=body["skills"],
                                channels=body["channels"],
                                max_total=body.get("max_total", sum(body["channels"].values())),
                                presence="available", team=body["team"])
            for agent_id, body in roster(scenario).items()}


def _handle(rng: np.random.Generator, scenario: Scenario, tier: int) -> float:
    h = scenario.handle_time[tier]
    if h.distribution == "exponential":
        return float(rng.exponential(h.mean_s))
    assert h.median_minutes is not None
    return float(h.median_minutes * 60 * np.exp(h.sigma * rng.standard_normal()))


def one_run(scenario: Scenario, policy: RoutingPolicy, seed: int,
            ) -> list[tuple[float, str, float]]:
    """(arrival second, category, wait) for every ticket of one run of the scenario."""
    matcher, rules = _router()
    choose, why_not, need_for = matcher.choose, matcher.why_not, rules.need_for
    TicketFacts = rules.TicketFacts  # noqa: N806
    rng = np.random.default_rng(seed)
    channel = next(iter(scenario.arrivals))
    rate = scenario.arrivals[channel].per_hour / 3600  # type: ignore[index]
    categories = list(scenario.mix.categories)
    weights = np.array([scenario.mix.categories[c]  # type: ignore[index]
                        for c in categories], dtype=float)
    priority = next(iter(scenario.mix.priorities))
    kind = next(iter(scenario.mix.types))
    agents = _agents(scenario)
    events: list[tuple[float, int, str, Any]] = []
    seq = 0
    t = float(rng.exponential(1 / rate))
    horizon = scenario.duration_minutes * 60
    while t < horizon:
        category = categories[int(rng.choice(len(categories), p=weights / weights.sum()))]
        events.append((t, seq, "arrive", TicketFacts(ticket_type=kind, category=category,
                                                     priority=priority, channel=channel)))
        seq += 1
        t += float(rng.exponential(1 / rate))
    heapq.heapify(events)
    waiting: list[tuple[float, TicketFacts]] = []  # in arrival order
    out: list[tuple[float, str, float]] = []
    epoch = datetime(2026, 1, 1, tzinfo=UTC)  # the matcher ranks by when agents last took work

    def start(agent: AgentView, facts: TicketFacts, arrived: float, now: float) -> None:
        nonlocal seq
        load = dict(agent.active_by_channel)
        load[facts.channel] = load.get(facts.channel, 0) + 1
        agents[agent.id] = dataclasses.replace(agent, active_by_channel=load,
                                               last_assigned_at=epoch + timedelta(seconds=now))
        out.append((arrived, facts.category, now - arrived))
        seq += 1
        heapq.heappush(events, (now + _handle(rng, scenario, agent.tier), seq, "free",
                                (agent.id, facts.channel)))

    while events:
        now, _, kind_of, payload = heapq.heappop(events)
        if kind_of == "arrive":
            decision = choose(need_for(policy, payload), agents.values())
            if decision.agent is not None:
                start(decision.agent, payload, now, now)
            else:
                waiting.append((now, payload))
            continue
        agent_id, used = payload
        agent = agents[agent_id]
        load = dict(agent.active_by_channel)
        load[used] -= 1
        agents[agent_id] = agent = dataclasses.replace(agent, active_by_channel=load)
        while True:  # offered the first waiting tickets they can take, until full
            taken = next((i for i, (arrived, facts) in enumerate(waiting)
                          if why_not(agents[agent_id], need_for(
                              policy, facts, waited_s=now - arrived)) is None), None)
            if taken is None:
                break
            arrived, facts = waiting.pop(taken)
            start(agents[agent_id], facts, arrived, now)
    return out


def queue_ranges(scenario: Scenario, policy: RoutingPolicy, replications: int,
                 warmup_s: float, confidence: float = 0.95,
                 ) -> dict[str, dict[str, float | int]]:
    """Per category: the mean share answered within the scenario's target over
    ``replications`` runs, and where ``confidence`` of the runs land."""
    shares: dict[str, list[float]] = defaultdict(list)
    threshold = scenario.service_level_seconds
    for r in range(replications):
        within: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for arrived, category, wait in one_run(scenario, policy, scenario.seed * 1000 + r):
            if arrived >= warmup_s:
                within[category][0] += wait <= threshold
                within[category][1] += 1
        for category, (hits, total) in within.items():
            shares[category].append(hits / total)
    tail = (1 - confidence) / 2
    return {c: {"mean": float(np.mean(v)), "low": float(np.quantile(v, tail)),
                "high": float(np.quantile(v, 1 - tail)), "runs": len(v)}
            for c, v in sorted(shares.items())}


def at_hold(scenario: Scenario, factor: float) -> Scenario:
    """The scenario with every tier's handle time stretched by ``factor`` (the same
    distribution, its mean times ``factor``): the reference for the hold the agents' capacity
    actually had, offer to release, hops included."""
    stretched = {tier: h.model_copy(update={"mean_minutes": h.mean_minutes * factor}
                                    if h.distribution == "exponential" else
                                    {"median_minutes": h.median_minutes * factor})  # type: ignore[operator]
                 for tier, h in scenario.handle_time.items()}
    return scenario.model_copy(update={"handle_time": stretched})


def hold_factor(scenario: Scenario, stories: list[Story]) -> float | None:
    """Measured mean hold (offer to release) over the mean handle time of the tiers that
    held those tickets; None without releases."""
    held = [((s.released_at - s.offers[0][0]).total_seconds(),
             scenario.handle_time[s.offers[0][2]].mean_s)
            for s in stories if s.offers and s.released_at is not None and not s.abandoned
            and s.offers[0][2] in scenario.handle_time]
    if not held:
        return None
    return sum(h for h, _ in held) / sum(m for _, m in held)


def compare(scenario: Scenario, stories: list[Story], policy: RoutingPolicy,
            ) -> dict[str, dict[str, Any]]:
    """Per queue (category): the twin's share answered within the target, as the customer
    saw it and from router's first step, with batch-means intervals, against the reference's
    mean and range; and, when router's history gave the times capacity was freed, router
    alone against the reference run at the hold the agents actually had (handle time plus
    the hops), as the homogeneous runs hold it against Erlang C at the measured hold."""
    ref = scenario.reference
    assert ref is not None
    warmup_s = ref.warmup_minutes * 60
    begin = scenario.start + timedelta(seconds=warmup_s)
    stop = scenario.start + timedelta(minutes=scenario.duration_minutes)
    threshold = scenario.service_level_seconds
    expected = queue_ranges(scenario, policy, ref.replications, warmup_s, ref.confidence)
    kept = [s for s in stories if begin <= s.arrived < stop]
    factor = hold_factor(scenario, kept)
    stretched = (queue_ranges(at_hold(scenario, factor), policy, ref.replications, warmup_s,
                              ref.confidence) if factor is not None else {})
    out: dict[str, dict[str, Any]] = {}
    for category, model in expected.items():
        mine = sorted((s for s in stories if s.category == category and s.offers
                       and s.routed_at is not None and begin <= s.arrived < stop),
                      key=lambda s: s.arrived)
        row: dict[str, Any] = {"tickets": len(mine), "reference": model,
                               "hold_factor": factor,
                               "reference_at_hold": stretched.get(category)}
        if len(mine) >= 2 * ref.batches:
            customer = [1.0 if (s.offers[0][0] - s.arrived).total_seconds() <= threshold
                        else 0.0 for s in mine]
            alone = [1.0 if (s.offers[0][0] - s.routed_at).total_seconds()  # type: ignore[operator]
                     <= threshold else 0.0 for s in mine]
            row["customer"] = batch_means(customer, ref.batches, ref.confidence).as_dict()
            row["router_alone"] = batch_means(alone, ref.batches, ref.confidence).as_dict()
            row["within_runs"] = model["low"] <= row["customer"]["mean"] <= model["high"]
            row["reference_in_interval"] = (row["customer"]["low"] <= model["mean"]
                                            <= row["customer"]["high"])
            if row["reference_at_hold"] is not None:
                held = row["reference_at_hold"]
                row["router_alone_within_runs_at_hold"] = (
                    held["low"] <= row["router_alone"]["mean"] <= held["high"])
        out[category] = row
    return out


def table(results: dict[str, dict[str, Any]], threshold: float) -> str:
    lines = [f"| queue | tickets | reference: mean (runs) | measured within {threshold:g} s "
             "| within the runs | router alone | reference at the measured hold | router alone "
             "within those runs |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: | --- |"]

    def ci(d: dict[str, Any] | None) -> str:
        return "" if d is None else f"{d['mean']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"

    def runs(d: dict[str, Any] | None) -> str:
        return "" if d is None else f"{d['mean']:.3f} ({d['low']:.3f} to {d['high']:.3f})"

    def yes(r: dict[str, Any], key: str) -> str:
        return "" if key not in r else ("yes" if r[key] else "no")

    for category, r in results.items():
        held = r.get("reference_at_hold")
        factor = r.get("hold_factor")
        at = "" if held is None else f"{runs(held)}, hold x{factor:.3f}"
        lines.append(f"| {category} | {r['tickets']} | {runs(r['reference'])} | "
                     f"{ci(r.get('customer'))} | {'yes' if r.get('within_runs') else 'no'} | "
                     f"{ci(r.get('router_alone'))} | {at} | "
                     f"{yes(r, 'router_alone_within_runs_at_hold')} |")
    return "\n".join(lines)


def chart(results: dict[str, dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, r in enumerate(results.values()):
        m = r["reference"]
        ax.bar(i - 0.15, m["mean"], 0.3, color="#9ecae1",
               label="reference (in memory)" if i == 0 else None)
        ax.errorbar([i - 0.15], [m["mean"]], yerr=[[m["mean"] - m["low"]],
                                                   [m["high"] - m["mean"]]],
                    fmt="none", color="#08519c", capsize=4)
        if "customer" in r:
            c = r["customer"]
            ax.bar(i + 0.15, c["mean"], 0.3, color="#fdae6b",
                   label="measured through the services" if i == 0 else None)
            ax.errorbar([i + 0.15], [c["mean"]], yerr=[[c["mean"] - c["low"]],
                                                       [c["high"] - c["mean"]]],
                        fmt="none", color="#e6550d", capsize=4)
    ax.set_xticks(range(len(results)), list(results))
    ax.set_ylim(0, 1)
    ax.set_ylabel("answered within the target")
    ax.set_title("Skills: each queue against the same rules in memory")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
