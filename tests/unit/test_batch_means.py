"""Batch-means confidence intervals against cases whose answer is known: a hand-computed
interval, iid normal draws (nominal coverage), an AR(1) sequence (where the naive interval
fails and batch means hold), and the waits of an M/M/n queue against Erlang C."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from scipy.signal import lfilter

from tierline_shared.erlang import erlang_c_figures
from tierline_shared.sim.batch_means import batch_means, t_interval


def test_a_hand_computed_interval() -> None:
    # mean 3, s^2 = 10/4, t(0.975, 4) = 2.776445105, half = t * sqrt(2.5 / 5)
    interval = t_interval([1, 2, 3, 4, 5])
    assert interval.mean == 3
    assert interval.half_width == pytest.approx(2.776445105 * math.sqrt(0.5), rel=1e-9)
    assert (interval.low, interval.high) == pytest.approx((1.036757, 4.963243), abs=1e-6)
    assert interval.lag1 == pytest.approx(0.4)  # sum d_i d_i+1 = 4 over sum d^2 = 10
    ninety = t_interval([1, 2, 3, 4, 5], confidence=0.9)  # t(0.95, 4) = 2.131847
    assert ninety.half_width == pytest.approx(2.131846786 * math.sqrt(0.5), rel=1e-9)


def test_batches_are_contiguous_equal_and_after_the_warm_up() -> None:
    observations = [100, 100, 100, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 99]
    interval = batch_means(observations, batches=5, warmup=3)
    # 11 kept, batches of 2: means 1..5, the trailing 99 left out
    assert interval.batch_size == 2 and interval.batches == 5
    assert (interval.mean, interval.half_width) == pytest.approx(
        (3, t_interval([1, 2, 3, 4, 5]).half_width))
    flat = batch_means([7.0] * 40, batches=4)
    assert flat.low == flat.high == 7 and math.isnan(flat.lag1) and flat.contains(7)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"observations": [1.0] * 10, "batches": 20}, "cannot make 20 batches"),
    ({"observations": [1.0] * 10, "batches": 1}, "batches must be >= 2"),
    ({"observations": [1.0] * 10, "warmup": -1}, "warmup"),
    ({"observations": [1.0] * 10, "confidence": 1.0}, "confidence"),
])
def test_bad_input_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        batch_means(**kwargs)


def test_iid_normal_draws_are_covered_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(20)
    covered = sum(batch_means(list(rng.normal(10, 3, 400)), batches=20).contains(10)
                  for _ in range(1000))
    assert 930 <= covered <= 970  # 95% of 1000, binomial sd about 7


def ar1(rng: np.random.Generator, phi: float, n: int) -> np.ndarray:
    """x_t = phi x_{t-1} + e_t, started from its stationary distribution; mean 0."""
    noise = rng.standard_normal(n)
    noise[0] /= math.sqrt(1 - phi * phi)
    return lfilter([1.0], [1.0, -phi], noise)


def test_correlated_output_needs_batches() -> None:
    """AR(1) with phi = 0.9: the variance of the mean is (1 + phi) / (1 - phi) = 19 times the
    iid one, so the naive interval covers about a third of the time; batch means of 500
    hold their 95%."""
    rng = np.random.default_rng(7)
    runs = [list(ar1(rng, 0.9, 10_000)) for _ in range(200)]
    batched = sum(batch_means(run, batches=20).contains(0) for run in runs)
    naive = sum(t_interval(run).contains(0) for run in runs)
    assert 180 <= batched <= 198  # 190 expected, binomial sd about 3
    assert naive < 100


def mmn_waits(agents: int, load: float, customers: int, seed: int) -> np.ndarray:
    """Each customer's wait in a first-come-first-served M/M/n queue (mean handle time 1)."""
    rng = np.random.default_rng(seed)
    arrive = np.cumsum(rng.exponential(1 / load, customers))
    handle = rng.exponential(1.0, customers)
    free = [0.0] * agents
    waits = np.empty(customers)
    for i in range(customers):
        start = max(free[0], arrive[i])
        waits[i] = start - arrive[i]
        heapq.heapreplace(free, start + handle[i])
    return waits


def test_queue_waits_cover_erlang_c() -> None:
    """Five agents at 85% occupancy, answer within 0.2 handle times: the batch-means
    intervals of P(wait), service level and ASA cover Erlang C's in nearly 95% of runs."""
    expected = erlang_c_figures(5, 4.25, 1.0, 0.2)
    hits = {"p_wait": 0, "service_level": 0, "asa": 0}
    runs = 40
    for seed in range(runs):
        waits = mmn_waits(5, 4.25, 42_000, seed)
        kept = {"p_wait": (waits > 0).astype(float), "service_level": (waits <= 0.2) * 1.0,
                "asa": waits}
        truth = {"p_wait": expected.probability_wait,
                 "service_level": expected.service_level, "asa": expected.asa_s}
        for name, values in kept.items():
            hits[name] += batch_means(list(values), batches=20, warmup=2000).contains(
                truth[name])
    assert all(h >= 34 for h in hits.values()), hits  # 38 expected; P(<= 33) < 1%
