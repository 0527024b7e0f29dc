"""Plans for callers who abandon (Erlang A's service level within t) and agents who work
several chats at once (the slot model): against a simulation, the limits the formulas must
reach, a brute-force search, and the plan and its command line."""

from __future__ import annotations

import csv
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tierline_metrics.staffing.plan import Target, plan
from tierline_metrics.staffing.simulate import simulate_queue
from tierline_shared.erlang import (
    erlang_a_figures,
    erlang_c_figures,
    queue_figures,
    required_agents,
)


@pytest.mark.parametrize(("agents", "load", "aht", "patience", "within"), [
    (10, 11.0, 180.0, 120.0, 20.0),  # overloaded: abandonment holds it
    (12, 10.0, 180.0, 300.0, 20.0),
    (5, 4.0, 300.0, 60.0, 30.0),  # impatient callers, a target longer than a third of it
    (3, 2.5, 300.0, 600.0, 60.0)])
def test_erlang_a_service_level_matches_a_simulation(agents: int, load: float, aht: float,
                                                     patience: float, within: float) -> None:
    model = erlang_a_figures(agents, load, aht, patience, within)
    sim = simulate_queue(agents=agents, load=load, aht_s=aht, answer_within_s=within,
                         arrivals=200_000, seed=1, patience_s=patience)
    assert model.service_level == pytest.approx(sim.service_level, abs=0.015)  # sd ~0.004
    assert model.probability_abandon == pytest.approx(sim.probability_abandon, abs=0.015)


def test_erlang_a_service_level_reaches_its_limits() -> None:
    figures = [erlang_a_figures(10, 9.0, 300, 200, t) for t in (0, 10, 30, 120, 600)]
    assert figures[0].service_level == pytest.approx(1 - figures[0].probability_wait)
    levels = [f.service_level for f in figures]
    assert levels == sorted(levels) and levels[0] < levels[-1]
    never = erlang_a_figures(10, 9.0, 300, 200)  # "answered at all": not abandoned
    assert never.service_level == pytest.approx(1 - never.probability_abandon)
    assert erlang_a_figures(10, 9.0, 300, 200, 1e9).service_level == pytest.approx(
        never.service_level, rel=1e-9)
    patient = erlang_a_figures(12, 10.0, 180, 1e8, 20)  # nobody gives up: Erlang C
    assert patient.service_level == pytest.approx(
        erlang_c_figures(12, 10.0, 180, 20).service_level, abs=1e-5)
    huge = erlang_a_figures(20_000, 30_000.0, 300, 120, 20)  # stays finite far past capacity
    assert 0 <= huge.service_level < 1e-6 and huge.probability_abandon == pytest.approx(1 / 3)


def test_concurrency_is_slots_of_one_queue() -> None:
    for agents, k in ((4, 3), (10, 2)):
        got = queue_figures(agents, 9.0, 600, 30, concurrency=k)
        slots = erlang_c_figures(agents * k, 9.0, 600, 30)
        assert got.agents == agents
        assert (got.service_level, got.probability_wait, got.occupancy) == (
            slots.service_level, slots.probability_wait, slots.occupancy)
    with_patience = queue_figures(4, 9.0, 600, 30, patience_s=90, concurrency=3)
    assert with_patience.service_level == erlang_a_figures(12, 9.0, 600, 90, 30).service_level
    with pytest.raises(ValueError, match="concurrency"):
        queue_figures(4, 9.0, 600, 30, concurrency=0)


def test_search_with_abandonment_and_concurrency_matches_brute_force() -> None:
    rng = random.Random(20)
    for _ in range(60):
        load = rng.uniform(0.2, 40)
        aht = rng.uniform(60, 900)
        target = rng.uniform(0.5, 0.95)
        within = rng.choice([10, 20, 60])
        cap = rng.choice([1.0, 0.85])
        patience = rng.choice([None, 60.0, 300.0])
        k = rng.choice([1, 2, 3])
        got = required_agents(load, aht, service_level=target, answer_within_s=within,
                              max_occupancy=cap, patience_s=patience, concurrency=k)
        brute = next(n for n in range(0, 500) if (patience is not None or n * k > load) and
                     (f := queue_figures(n, load, aht, within, patience, k)).occupancy <= cap
                     and f.service_level >= target)
        assert got == brute, (load, aht, target, within, cap, patience, k)


def test_a_plan_with_patience_and_concurrency() -> None:
    volumes = [0, 20, 100, 240]
    erlang_c = plan(volumes, Target(aht_s=180, service_level=0.8, answer_within_s=20))
    erlang_a = plan(volumes, Target(aht_s=180, service_level=0.8, answer_within_s=20,
                                    patience_s=120))
    assert erlang_a[0].agents == 0 and erlang_a[0].probability_abandon == 0
    for c_row, a_row in zip(erlang_c[1:], erlang_a[1:], strict=True):
        assert a_row.service_level >= 0.8 and 0 < a_row.probability_abandon < 0.1
        assert a_row.agents <= c_row.agents and c_row.probability_abandon == 0
    chat = plan(volumes, Target(aht_s=540, service_level=0.8, answer_within_s=30,
                                concurrency=3))
    one = plan(volumes, Target(aht_s=540, service_level=0.8, answer_within_s=30))
    for k3, k1 in zip(chat[1:], one[1:], strict=True):
        assert k3.service_level >= 0.8 and k3.occupancy <= 0.85
        assert math.ceil(k1.agents / 3) <= k3.agents < k1.agents
    with pytest.raises(ValueError, match="patience_s"):
        Target(patience_s=0)
    with pytest.raises(ValueError, match="concurrency"):
        Target(concurrency=0)


def test_cli_takes_patience_and_concurrency(tmp_path: Path) -> None:
    volumes = tmp_path / "volumes.csv"
    volumes.write_text("volume\n0\n50\n120\n")
    out = tmp_path / "plan.csv"
    done = subprocess.run([sys.executable, "-m", "tierline_shared.cli", "staffing", "plan",
                           str(volumes), "--aht", "300", "--patience", "90", "--concurrency",
                           "2", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    expected = plan([0, 50, 120], Target(aht_s=300, patience_s=90, concurrency=2))
    assert [int(r["agents"]) for r in rows] == [r.agents for r in expected]
    assert [float(r["probability_abandon"]) for r in rows] == pytest.approx(
        [r.probability_abandon for r in expected], abs=1e-6)
