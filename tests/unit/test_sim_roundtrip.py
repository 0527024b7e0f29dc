"""The staffing round trip's measurement: the in-memory day it is held against, and the
verdict per interval."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from tierline_shared.erlang import erlang_c_figures
from tierline_shared.sim.plan import arrivals, load_corpus
from tierline_shared.sim.report import Story
from tierline_shared.sim.roundtrip import day_ranges, measure, table
from tierline_shared.sim.scenario import Scenario, load_scenario


def test_a_steady_day_lands_around_erlang_c() -> None:
    """Light load, constant staffing: every interval's range holds Erlang C's figure."""
    steady = erlang_c_figures(12, 8.0, 300, 20).service_level
    ranges = day_ranges([48] * 4, [12] * 4, 1800, 300, 20, replications=60)  # 8 erlangs
    assert all(low < steady <= high for low, high in ranges[1:]), ranges


def test_agents_off_shift_take_nothing_and_on_shift_take_the_queue() -> None:
    # nobody on shift in the first interval: its tickets wait for the second one
    ranges = day_ranges([30, 30], [0, 10], 1800, 60, 20, replications=20)
    assert ranges[0] == (0.0, 0.0) or ranges[0][1] < 0.05
    assert ranges[1][0] > 0.5


def test_the_shipped_round_trip_and_its_rules() -> None:
    shipped = load_scenario(Path("staffing-round-trip.yaml"))
    assert shipped.staffing is not None and shipped.duration_minutes == 240
    plan = arrivals(shipped, load_corpus())
    per_interval = [sum(1 for a in plan if k * 1800 <= (a.at - shipped.start).total_seconds()
                        < (k + 1) * 1800) for k in range(8)]
    for got, expected in zip(per_interval, shipped.staffing.volumes, strict=True):
        assert abs(got - expected) < 4 * expected ** 0.5 + 5
    raw = shipped.model_dump()
    with pytest.raises(ValueError, match="duration_minutes must be 240"):
        Scenario.model_validate(raw | {"duration_minutes": 200})
    with pytest.raises(ValueError, match="all zero"):
        Scenario.model_validate(raw | {"staffing": raw["staffing"] | {"volumes": [0] * 8}})


def test_measure_gives_a_verdict_per_interval() -> None:
    scenario = load_scenario(Path("staffing-round-trip.yaml")).model_copy(update={
        "staffing": load_scenario(Path("staffing-round-trip.yaml")).staffing.model_copy(
            update={"volumes": [20, 20], "replications": 20}),
        "duration_minutes": 60})
    start = scenario.start

    def story(n: int, at_s: float, wait_s: float) -> Story:
        arrived = start + timedelta(seconds=at_s)
        offered = arrived + timedelta(seconds=wait_s)
        return Story(ticket_id=str(n), arrived=arrived, channel="portal", priority="P4",
                     offers=[(offered, "a", 2)], routed_at=arrived + timedelta(seconds=1))

    stories = [story(n, 60 * n, 5) for n in range(20)] + \
        [story(100 + n, 1800 + 60 * n, 400) for n in range(20)]
    plan = [{"index": 0, "volume": 20, "agents": 3, "service_level": 0.9},
            {"index": 1, "volume": 20, "agents": 1, "service_level": 0.3}]
    rows = measure(scenario, stories, plan)
    assert [r["tickets"] for r in rows] == [20, 20]
    assert rows[0]["service_level"] == 1 and rows[0]["meets_target"]
    assert rows[1]["service_level"] == 0 and not rows[1]["meets_target"]
    text = table(rows, 0.8)
    assert "meets the target" in text.splitlines()[2]
    assert "below" in text.splitlines()[3] or "misses too" in text.splitlines()[3]


def test_router_alone_is_held_against_the_day_at_the_measured_hold() -> None:
    """Hops that hold each agent 20 s beyond a 60 s handle time (5 agents, 60% offered, 80%
    carried): router alone lands in the day's range at the measured hold, which lies below
    the range at the handle time; each interval says how long capacity was held beyond the
    handle time."""
    base = load_scenario(Path("staffing-round-trip.yaml"))
    scenario = base.model_copy(update={
        "staffing": base.staffing.model_copy(update={"volumes": [90, 90],
                                                     "replications": 40}),
        "duration_minutes": 60,
        "handle_time": {2: base.handle_time[2].model_copy(update={"mean_minutes": 1})}})
    rng = np.random.default_rng(3)
    start, hop, agents = scenario.start, 20.0, 5
    free, stories, t = [0.0] * agents, [], 0.0
    while True:
        t += rng.exponential(20)  # 90 a half hour
        if t >= 3600:
            break
        offered = max(t, min(free))
        handle = float(rng.exponential(60))
        free[free.index(min(free))] = offered + handle + hop

        def when(x: float) -> object:
            return start + timedelta(seconds=x)

        stories.append(Story(ticket_id=str(len(stories)), arrived=when(t), channel="portal",
                             priority="P4", offers=[(when(offered), "a", 2)], routed_at=when(t),
                             handle_s=handle, released_at=when(offered + handle + hop)))
    hold = float(np.mean([(s.released_at - s.offers[0][0]).total_seconds() for s in stories]))
    plan = [{"index": k, "volume": 90, "agents": agents, "service_level": 0.9}
            for k in range(2)]
    rows = measure(scenario, stories, plan, hold_s=hold)
    for r in rows:
        assert r["hold_beyond_handle_s"] == pytest.approx(hop)
        assert r["runs"] is not None and r["runs_at_hold"] is not None
        assert r["runs_at_hold"][1] < r["runs"][1] or r["runs_at_hold"][0] < r["runs"][0]
        assert r["router_alone_within_runs_at_hold"], r
    text = table(rows, 0.8)
    assert "runs at the measured hold" in text.splitlines()[0]
    assert "| 20.0 |" in text.splitlines()[2]
    assert any("the hops" in line or "chance" in line for line in text.splitlines()[2:])
