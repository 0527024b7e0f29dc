"""The staffing round trip's measurement: the in-memory day it is held against, and the
verdict per interval."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

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
