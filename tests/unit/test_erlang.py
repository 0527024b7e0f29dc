"""Erlang C and A: agreement with a high-precision reference, stability to 50,000 agents,
zero volume, a search that matches brute force, and a simulation that reproduces them."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import mpmath
import pytest

from tests.reports import REPORT
from tierline_metrics.staffing.simulate import simulate_queue
from tierline_shared.erlang import (
    erlang_a_figures,
    erlang_b,
    erlang_c,
    erlang_c_figures,
    required_agents,
    scheduled_headcount,
)


def reference_erlang_c(agents: int, load: float) -> mpmath.mpf:
    """Erlang B by its recurrence at 40 significant digits, then Erlang C."""
    with mpmath.workdps(40):
        a = mpmath.mpf(load)
        b = mpmath.mpf(1)
        for k in range(1, agents + 1):
            b = a * b / (k + a * b)
        rho = a / agents
        return b / (1 - rho * (1 - b))


CASES = [(1, 0.5), (2, 1.2), (10, 8.0), (14, 10.0), (50, 47.3), (171, 150.0), (200, 180.5),
         (1000, 950.0), (5000, 4900.0), (20000, 19800.0), (50000, 49700.0), (50000, 45000.0)]


@pytest.mark.parametrize(("agents", "load"), CASES)
def test_agrees_with_a_high_precision_reference(agents: int, load: float) -> None:
    expected = reference_erlang_c(agents, load)
    got = erlang_c(agents, load)
    if expected > mpmath.mpf("1e-250"):
        assert abs(got - expected) / expected < 1e-9, (got, expected)
    else:
        assert got < 1e-240


def test_largest_relative_error_is_reported() -> None:
    worst = max(abs(erlang_c(n, a) - reference_erlang_c(n, a)) / reference_erlang_c(n, a)
                for n, a in CASES if reference_erlang_c(n, a) > mpmath.mpf("1e-250"))
    REPORT["Erlang C worst relative error vs 40-digit reference"] = f"{float(worst):.2e}"
    assert worst < 1e-9


def test_no_overflow_where_factorials_would() -> None:
    for agents in (171, 1000, 50_000, 200_000):
        value = erlang_c(agents, agents * 0.97)
        assert 0 < value < 1 and math.isfinite(value)
    assert erlang_b(100_000, 1e9) == pytest.approx(1 - 1e-4, rel=1e-3)


def test_zero_volume_and_unstable_loads() -> None:
    assert erlang_c(5, 0) == 0 and erlang_b(5, 0) == 0
    figures = erlang_c_figures(0, 0.0, 300, 20)
    assert (figures.probability_wait, figures.service_level, figures.asa_s,
            figures.occupancy) == (0, 1, 0, 0)
    assert required_agents(0.0, 300, service_level=0.8, answer_within_s=20) == 0
    unstable = erlang_c_figures(10, 10.0, 300, 20)
    assert unstable.probability_wait == 1 and unstable.asa_s == math.inf
    a = erlang_a_figures(3, 0.0, 300, 60)
    assert a.probability_abandon == 0 and a.service_level == 1


@pytest.mark.parametrize("bad", [(-1, 2.0), (2, -0.1), (2, math.nan), (2.5, 1.0)])
def test_bad_inputs_are_refused(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        erlang_c(*bad)  # type: ignore[arg-type]


def test_textbook_example() -> None:
    # 100 calls in 30 minutes at 180 s handle time is 10 erlangs; 80% answered in 20 s.
    load = 100 * 180 / 1800
    for agents in (13, 14):
        expected = 1 - reference_erlang_c(agents, load) * mpmath.exp(-(agents - load) * 20 / 180)
        assert erlang_c_figures(agents, load, 180, 20).service_level == \
            pytest.approx(float(expected), rel=1e-9)
    assert erlang_c_figures(13, load, 180, 20).service_level < 0.8
    assert required_agents(load, 180, service_level=0.8, answer_within_s=20) == 14


def test_search_matches_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(200):
        load = rng.uniform(0.1, 300)
        aht = rng.uniform(60, 900)
        target = rng.uniform(0.5, 0.98)
        within = rng.choice([10, 20, 30, 60])
        cap = rng.choice([1.0, 0.9, 0.85])
        got = required_agents(load, aht, service_level=target, answer_within_s=within,
                              max_occupancy=cap)
        brute = next(n for n in range(1, 2000) if n > load and load / n <= cap and
                     erlang_c_figures(n, load, aht, within).service_level >= target)
        assert got == brute
    asa = required_agents(50, 240, asa_s=15)
    assert erlang_c_figures(asa, 50, 240, 0).asa_s <= 15 < \
        erlang_c_figures(asa - 1, 50, 240, 0).asa_s


def test_search_evaluates_log_n_candidates_at_fifty_thousand_agents(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Doubling then bisection: a few dozen Erlang evaluations, not one per agent (how long
    each takes is the bench's business: bench/erlang_vs_pyworkforce.py)."""
    from tierline_shared import erlang

    evaluated: list[int] = []
    figures = erlang.erlang_c_figures

    def counting(agents: int, *args: Any) -> Any:
        evaluated.append(agents)
        return figures(agents, *args)

    monkeypatch.setattr(erlang, "erlang_c_figures", counting)
    started = time.perf_counter()
    n = required_agents(49_000, 300, service_level=0.8, answer_within_s=20)
    elapsed = time.perf_counter() - started
    assert 49_000 < n < 49_500
    assert len(evaluated) <= 2 * math.ceil(math.log2(n - 49_000)) + 2, evaluated
    assert len(set(evaluated)) == len(evaluated)  # no candidate evaluated twice
    REPORT["required agents for 49,000 erlangs (80/20)"] = (
        f"{n} after {len(evaluated)} evaluations, {elapsed * 1000:.1f} ms")


def test_shrinkage_gives_scheduled_headcount() -> None:
    assert scheduled_headcount(14, 0.3) == 20
    assert scheduled_headcount(14, 0.0) == 14
    with pytest.raises(ValueError):
        scheduled_headcount(14, 1.0)


def test_simulation_reproduces_erlang_c() -> None:
    agents, load, aht, within = 12, 10.0, 180.0, 20.0
    sim = simulate_queue(agents=agents, load=load, aht_s=aht, answer_within_s=within,
                         arrivals=200_000, seed=11)
    model = erlang_c_figures(agents, load, aht, within)
    REPORT["Erlang C vs simulation P(wait)"] = (f"{model.probability_wait:.4f} vs "
                                                f"{sim.probability_wait:.4f}")
    assert sim.probability_wait == pytest.approx(model.probability_wait, abs=0.015)
    assert sim.service_level == pytest.approx(model.service_level, abs=0.015)
    assert sim.asa_s == pytest.approx(model.asa_s, rel=0.1)


def test_simulation_reproduces_erlang_a() -> None:
    agents, load, aht, patience = 10, 11.0, 180.0, 120.0  # overloaded: abandonment holds it
    sim = simulate_queue(agents=agents, load=load, aht_s=aht, answer_within_s=20,
                         arrivals=200_000, seed=5, patience_s=patience)
    model = erlang_a_figures(agents, load, aht, patience)
    REPORT["Erlang A vs simulation P(abandon)"] = (f"{model.probability_abandon:.4f} vs "
                                                   f"{sim.probability_abandon:.4f}")
    assert sim.probability_abandon == pytest.approx(model.probability_abandon, abs=0.015)
    assert sim.probability_wait == pytest.approx(model.probability_wait, abs=0.015)
    assert sim.asa_s == pytest.approx(model.asa_s, rel=0.1)


def test_erlang_a_approaches_erlang_c_as_patience_grows() -> None:
    c = erlang_c_figures(12, 10.0, 180, 20)
    a = erlang_a_figures(12, 10.0, 180, 1e7)
    assert a.probability_wait == pytest.approx(c.probability_wait, rel=1e-3)
    assert a.probability_abandon < 1e-4


@pytest.mark.parametrize(("agents", "load"), [(50_000, 49_900.0), (50_000, 50_500.0),
                                              (20_000, 30_000.0), (1, 5.0)])
def test_erlang_a_is_stable_at_scale_and_overload(agents: int, load: float) -> None:
    figures = erlang_a_figures(agents, load, 300, 120)
    for value in (figures.probability_wait, figures.probability_abandon, figures.service_level,
                  figures.occupancy):
        assert 0 <= value <= 1 and math.isfinite(value)
    if load > agents:  # overloaded: at least the excess must abandon
        assert figures.probability_abandon >= (load - agents) / load - 1e-9


def reference_erlang_a(agents: int, load: float, aht: float,
                       patience: float) -> tuple[mpmath.mpf, mpmath.mpf]:
    """P(wait) and P(abandon) at 40 digits, with mpmath's own incomplete gamma."""
    with mpmath.workdps(40):
        a, mu, theta = mpmath.mpf(load), 1 / mpmath.mpf(aht), 1 / mpmath.mpf(patience)
        b = mpmath.mpf(1)
        for k in range(1, agents + 1):
            b = a * b / (k + a * b)
        x, y = agents * mu / theta, a * mu / theta
        big_a = x * mpmath.exp(y) * y ** (-x) * mpmath.gammainc(x, 0, y)
        p_wait = b * big_a / (1 + (big_a - 1) * b)
        rho = a / agents
        return p_wait, (1 / (rho * big_a) + 1 - 1 / rho) * p_wait


@pytest.mark.parametrize(("agents", "load", "patience"), [
    (5, 4.0, 120.0), (10, 11.0, 120.0), (100, 95.0, 300.0), (1000, 1050.0, 60.0),
    (5000, 4900.0, 600.0), (50_000, 49_500.0, 180.0)])
def test_erlang_a_agrees_with_a_high_precision_reference(agents: int, load: float,
                                                         patience: float) -> None:
    p_wait, p_ab = reference_erlang_a(agents, load, 300.0, patience)
    got = erlang_a_figures(agents, load, 300.0, patience)
    assert abs(got.probability_wait - p_wait) / p_wait < 1e-9
    assert abs(got.probability_abandon - p_ab) / p_ab < 1e-9
