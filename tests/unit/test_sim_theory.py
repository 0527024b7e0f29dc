"""The comparison with queueing theory, fed with stories of a known queue: an in-memory
M/M/n whose every hop takes a fixed, known time."""

from __future__ import annotations

import heapq
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from tierline_shared.erlang import erlang_c_figures
from tierline_shared.policy import PolicyError
from tierline_shared.sim.plan import Draws
from tierline_shared.sim.report import Story
from tierline_shared.sim.scenario import Scenario, load_scenario
from tierline_shared.sim.theory import (
    compare,
    ideal_table,
    ideal_waits,
    mean_hold,
    overhead_table,
    overheads,
    splice,
    table,
)

HOMOGENEOUS = {
    "version": 1, "name": "h", "duration_minutes": 3000, "seed": 2, "speed": 30,
    "service_level_seconds": 20, "arrivals": {"portal": {"per_hour": 96}},
    "mix": {"priorities": {"P4": 1}},
    "agents": [{"name": "pool", "count": 10, "tier": 2, "skills": {"general": 3},
                "channels": {"portal": 1}}],
    "handle_time": {2: {"distribution": "exponential", "mean_minutes": 5}},
    "outcomes": {"escalation": 0, "reopen": 0},
    "theory": {"warmup_minutes": 60, "batches": 20}}


def stories_of_a_queue(scenario: Scenario, to_router_s: float, to_accept_s: float,
                       to_release_s: float, late_s: float = 0.0) -> list[Story]:
    """FCFS M/M/n as router would record it: each ticket reaches router ``to_router_s``
    after arriving; an offer holds the agent for accept, handle and release hops. With
    ``late_s``, a waiting ticket is offered that long after an agent freed up (a router
    that idles agents while work waits)."""
    rng = np.random.default_rng(4)
    agents = scenario.agents[0].count
    rate = scenario.arrivals["portal"].per_hour / 3600
    aht = scenario.handle_time[2].mean_s
    t, free = 0.0, [0.0] * agents
    out = []
    while t < scenario.duration_minutes * 60:
        t += rng.exponential(1 / rate)
        seen = t + to_router_s
        offered = seen if free[0] <= seen else free[0] + late_s
        handle = rng.exponential(aht)
        released = offered + to_accept_s + handle + to_release_s
        heapq.heapreplace(free, released)
        at = scenario.start + timedelta(seconds=t)

        def when(x: float) -> object:
            return scenario.start + timedelta(seconds=x)

        out.append(Story(ticket_id=str(len(out)), arrived=at, channel="portal", priority="P4",
                         offers=[(when(offered), "a", 2)], accepted_at=when(offered + to_accept_s),
                         handle_s=handle, resolving_at=when(released - to_release_s),
                         routed_at=when(seen), queued=offered > seen,
                         released_at=when(released)))
    return out


def test_a_queue_without_overheads_matches_erlang_c() -> None:
    scenario = Scenario.model_validate(HOMOGENEOUS)
    result = compare(scenario, stories_of_a_queue(scenario, 0, 0, 0), speed=30)
    expected = erlang_c_figures(10, 8.0, 300, 20)
    assert result["offered_load"] == pytest.approx(8.0)
    assert result["erlang_c"]["service_level"] == pytest.approx(expected.service_level)
    for view, figure, value in (("customer", "service_level", expected.service_level),
                                ("policy", "probability_wait", expected.probability_wait),
                                ("customer", "asa_s", expected.asa_s)):
        interval = result[view][figure]
        assert interval["low"] <= value <= interval["high"], (view, figure, interval, value)
    assert result["occupancy"]["low"] <= 0.8 <= result["occupancy"]["high"]
    assert all(result["within"].values())
    assert result["overheads"]["offer_to_accept"]["mean_s"] == 0


def test_overheads_are_measured_and_taken_out() -> None:
    """Every hop costs time: the customer sees a slower queue than Erlang C promises, the
    overheads come out as measured, and the router alone matches Erlang C at the hold
    time it actually had."""
    scenario = Scenario.model_validate(HOMOGENEOUS)
    stories = stories_of_a_queue(scenario, 3.0, 2.0, 25.0)
    result = compare(scenario, stories, speed=30)
    hops = result["overheads"]
    # the same measures for any run (the round trip and the skills runs use them too)
    alone = overheads(stories, speed=30)
    assert alone["hold_beyond_handle"]["mean_s"] == pytest.approx(27.0)
    assert alone["arrival_to_router"]["count"] == len(stories)
    assert mean_hold(stories) == pytest.approx(27.0 + np.mean([s.handle_s for s in stories]))
    assert hops["arrival_to_router"]["p50_s"] == pytest.approx(3.0)
    assert hops["offer_to_accept"]["mean_s"] == pytest.approx(2.0)
    assert hops["resolution_to_release"]["p99_s"] == pytest.approx(25.0)
    assert hops["hold_beyond_handle"]["mean_s"] == pytest.approx(27.0)
    assert hops["arrival_to_offer_when_free"]["mean_real_ms"] == pytest.approx(100.0)
    assert result["mean_hold_s"] > 310 and result["carried_load"] > 8.5
    nominal = result["erlang_c"]["service_level"]
    assert result["customer"]["service_level"]["high"] < nominal  # the gap, caught
    assert result["within"]["policy_service_level"]
    assert result["within"]["policy_probability_wait"]
    text = table({"h": result})
    assert "| h | 10 | 0.800 |" in text and "P(wait)" in text
    assert "resolution sent to capacity freed" in overhead_table({"h": result})


def test_theory_needs_a_homogeneous_scenario() -> None:
    mixed = HOMOGENEOUS | {"handle_time": {2: {"median_minutes": 5}},
                           "outcomes": {"escalation": 0.1}}
    with pytest.raises(ValueError, match="exponential handle times, no escalation"):
        Scenario.model_validate(mixed)
    with pytest.raises(ValueError, match="needs mean_minutes"):
        Scenario.model_validate(HOMOGENEOUS | {"handle_time": {2: {
            "distribution": "exponential"}}})
    shipped = load_scenario(Path("erlang-c.yaml"))
    assert shipped.theory is not None and len(shipped.compare) == 2


def test_exponential_handle_times_have_the_mean() -> None:
    draws = Draws(Scenario.model_validate(HOMOGENEOUS))
    values = [draws.handle_seconds(2) for _ in range(20_000)]
    assert np.mean(values) == pytest.approx(300, rel=0.03)
    assert np.std(values) / np.mean(values) == pytest.approx(1, abs=0.03)


def test_too_few_tickets_say_so(tmp_path: Path) -> None:
    scenario = Scenario.model_validate(HOMOGENEOUS | {"duration_minutes": 70})
    result = compare(scenario, stories_of_a_queue(scenario, 0, 0, 0), speed=30)
    assert "too few" in result["note"] and "customer" not in result
    assert "too few" in table({"h": result})
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- sim:h:start -->\nold\n<!-- sim:h:end -->\nb\n")
    assert splice(readme, "h", "new")
    assert readme.read_text() == "a\n<!-- sim:h:start -->\nnew\n<!-- sim:h:end -->\nb\n"
    assert not splice(readme, "other", "x")


def test_bad_theory_files_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nname: b\nduration_minutes: 10\narrivals: {portal: "
                    "{per_hour: 5}}\nagents: [{name: a, count: 1, tier: 1, skills: {g: 1}, "
                    "channels: {portal: 1}}]\nhandle_time: {1: {median_minutes: 1}}\n"
                    "theory: {batches: 2}\n")
    with pytest.raises(PolicyError, match="batches"):
        load_scenario(path)


def test_the_run_range_of_erlang_c_narrows_with_the_run() -> None:
    from tierline_shared.sim.theory import erlang_c_run_interval

    steady = erlang_c_figures(10, 7.0, 1.0, 0.25).service_level
    short = erlang_c_run_interval(10, 7.0, 1.0, 0.25, tickets=300, replications=200)
    long = erlang_c_run_interval(10, 7.0, 1.0, 0.25, tickets=3000, warmup=100,
                                 replications=100)
    assert short[0] < long[0] < steady < long[1] <= short[1]
    assert long[1] - long[0] < (short[1] - short[0]) / 2


def test_abandoning_customers_are_held_against_erlang_a() -> None:
    """M/M/n+M in memory, recorded as router and the simulator would: P(abandon) and the
    share answered within the target against Erlang A."""
    from tierline_shared.erlang import erlang_a_figures

    scenario = Scenario.model_validate(HOMOGENEOUS | {
        "arrivals": {"portal": {"per_hour": 120}},  # 10 erlangs on 10 agents
        "outcomes": {"escalation": 0, "reopen": 0, "patience_minutes": 2}})
    rng = np.random.default_rng(9)
    t, free, stories = 0.0, [0.0] * 10, []
    while t < scenario.duration_minutes * 60:
        t += rng.exponential(30)
        patience = rng.exponential(120)
        at = scenario.start + timedelta(seconds=t)
        story = Story(ticket_id=str(len(stories)), arrived=at, channel="portal",
                      priority="P4", routed_at=at, patience_s=patience, queued=free[0] > t)
        if free[0] - t > patience:
            story.abandoned = True
        else:
            start = max(free[0], t)
            end = start + rng.exponential(300)
            heapq.heapreplace(free, end)
            story.offers = [(scenario.start + timedelta(seconds=start), "a", 2)]
            story.released_at = scenario.start + timedelta(seconds=end)
        stories.append(story)
    result = compare(scenario, stories, speed=30)
    expected = erlang_a_figures(10, 10.0, 300, 120, 20)
    assert result["model"] == "Erlang A"
    assert result["erlang_c"]["probability_abandon"] == pytest.approx(
        expected.probability_abandon)
    interval = result["probability_abandon"]
    assert interval["low"] <= expected.probability_abandon <= interval["high"], interval
    sl = result["customer"]["service_level"]
    assert sl["low"] <= expected.service_level <= sl["high"], sl
    assert "P(abandon)" in table({"h": result}) and "Erlang A" in table({"h": result})


def test_the_ideal_queue_on_the_same_tickets_finds_a_router_that_idles_agents() -> None:
    """Replayed through ideal servers with the same arrivals at router and the same holds,
    a first-come-first-served router that never idles waits exactly as the ideal queue
    does, hops or not; one that offers waiting work 30 s after an agent frees up falls
    short by far more than its interval."""
    scenario = Scenario.model_validate(HOMOGENEOUS)
    exact = compare(scenario, stories_of_a_queue(scenario, 3.0, 2.0, 25.0), speed=30)
    ideal = exact["ideal_queue"]
    assert ideal["mean_abs_wait_gap_s"] == pytest.approx(0, abs=1e-6)
    assert ideal["difference"]["mean"] == 0 and ideal["later_than_ideal_by_1s"] == 0
    assert ideal["router_alone"]["mean"] == exact["policy"]["service_level"]["mean"]
    lazy = compare(scenario, stories_of_a_queue(scenario, 3.0, 2.0, 25.0, late_s=30.0),
                   speed=30)["ideal_queue"]
    assert lazy["difference"]["high"] < 0, lazy["difference"]
    assert lazy["later_than_ideal_by_1s"] > 0.1 * lazy["tickets"]
    assert lazy["mean_wait_gap_s"] > 1 and ideal["mean_wait_gap_s"] == pytest.approx(0, abs=1e-6)
    text = ideal_table({"h": exact, "lazy": {"ideal_queue": lazy}})
    assert "| h |" in text and "| lazy |" in text
    assert ideal_table({"h": {}}) == ""
    assert ideal_waits([], 3) == {}
