"""A discrete-event simulation of a first-come-first-served queue with Poisson arrivals,
exponential handle times and (optionally) exponential patience: the check on the maths."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimulationResult:
    arrivals: int
    probability_wait: float
    service_level: float  # share of all arrivals answered within the threshold
    asa_s: float  # mean wait of all arrivals (abandoned ones count their time waited)
    probability_abandon: float


def simulate_queue(*, agents: int, load: float, aht_s: float, answer_within_s: float,
                   arrivals: int, seed: int, patience_s: float | None = None,
                   warmup: int = 2000) -> SimulationResult:
    """Each arrival takes the server that frees first. A caller whose wait would exceed their
    patience leaves without taking a server, so servers serve callers in arrival order."""
    rng = np.random.default_rng(seed)
    total = arrivals + warmup
    rate = load / aht_s  # arrivals per second
    times = np.cumsum(rng.exponential(1 / rate, total))
    handles = rng.exponential(aht_s, total)
    patience = (rng.exponential(patience_s, total) if patience_s is not None
                else np.full(total, np.inf))
    free_at = [0.0] * agents
    heapq.heapify(free_at)
    waited = answered_in_time = abandoned = 0
    wait_sum = 0.0
    for i in range(total):
        arrive = float(times[i])
        wait = max(free_at[0] - arrive, 0.0)
        counted = i >= warmup
        if wait > patience[i]:
            if counted:
                abandoned += 1
                waited += 1
                wait_sum += float(patience[i])
            continue
        heapq.heapreplace(free_at, arrive + wait + float(handles[i]))
        if counted:
            waited += wait > 0
            answered_in_time += wait <= answer_within_s
            wait_sum += wait
    return SimulationResult(arrivals, waited / arrivals, answered_in_time / arrivals,
                            wait_sum / arrivals, abandoned / arrivals)
