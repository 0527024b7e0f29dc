"""Erlang C (M/M/n) and Erlang A (M/M/n+M) in log space, stable to 50,000 agents and more.

Erlang B is the Poisson pmf over the Poisson cdf, B(n, A) = p(n; A) / P(X <= n; A), computed
with log-gamma and the regularized incomplete gamma function, so nothing overflows (no
factorials, no powers of A). Erlang C follows from B; Erlang A uses Mandelbaum and Zeltyn's
incomplete-gamma form. Loads are in erlangs (arrivals x mean handle time / interval)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, gammainc, gammaincc, gammaln


def _check(agents: int, load: float) -> None:
    if agents < 0 or int(agents) != agents:
        raise ValueError(f"agents must be a whole number >= 0, got {agents!r}")
    if not math.isfinite(load) or load < 0:
        raise ValueError(f"load must be a finite number >= 0, got {load!r}")


def erlang_b(agents: int, load: float) -> float:
    """Probability that an arrival finds all ``agents`` busy in a loss system."""
    _check(agents, load)
    if agents == 0:
        return 1.0
    if load == 0:
        return 0.0
    log_pmf = agents * math.log(load) - load - float(gammaln(agents + 1))
    cdf = float(gammaincc(agents + 1, load))
    if cdf == 0.0:  # load far above agents: every arrival is blocked
        return 1.0
    return min(math.exp(log_pmf) / cdf, 1.0)


def erlang_c(agents: int, load: float) -> float:
    """Probability that an arrival waits (M/M/n); 1 when the queue is unstable."""
    _check(agents, load)
    if load == 0:
        return 0.0
    if agents <= load:
        return 1.0
    b = erlang_b(agents, load)
    rho = load / agents
    return b / (1 - rho * (1 - b))


@dataclass(frozen=True)
class QueueFigures:
    agents: int
    load: float
    probability_wait: float
    service_level: float  # share answered within the target time
    asa_s: float  # average speed of answer, over all arrivals
    occupancy: float
    probability_abandon: float = 0.0


def erlang_c_figures(agents: int, load: float, aht_s: float,
                     answer_within_s: float) -> QueueFigures:
    if aht_s <= 0:
        raise ValueError("aht_s must be > 0")
    if answer_within_s < 0:
        raise ValueError("answer_within_s must be >= 0")
    if load == 0:
        return QueueFigures(agents, 0.0, 0.0, 1.0, 0.0, 0.0)
    if agents <= load:
        return QueueFigures(agents, load, 1.0, 0.0, math.inf, 1.0)
    c = erlang_c(agents, load)
    slack = agents - load
    service_level = 1 - c * math.exp(-slack * answer_within_s / aht_s)
    return QueueFigures(agents, load, c, service_level, c * aht_s / slack, load / agents)


def _inverse_a(x: float, y: float) -> float:
    """1 / A(x, y), where A(x, y) = x e^y y^-x gamma_lower(x, y) (Mandelbaum and Zeltyn,
    2004). The inverse stays in range: A itself overflows when the system is overloaded.

    Below the mode (y < x) the regularized gamma underflows for large x, so sum the series
    A = 1 + y/(x+1) + y^2/((x+1)(x+2)) + ..., whose terms shrink from the start. Otherwise
    the incomplete gamma is at least about a half and the closed form is safe."""
    if y < x:
        total, term, k = 1.0, 1.0, 0
        while True:
            k += 1
            term *= y / (x + k)
            total += term
            if term < total * 1e-17:
                return 1 / total
    return math.exp(-(math.log(x) + y - x * math.log(y) + float(gammaln(x))
                      + math.log(float(gammainc(x, y)))))


def _answered_within_if_waiting(x: float, y: float, theta: float, within_s: float) -> float:
    """P(answered within ``within_s`` | the arrival waits) in M/M/n+M, first come first served.

    An arrival finding all n agents busy and k callers ahead would be answered after
    V = sum_{j=0..k} E_j / (theta (x + j)) (each step ends when an agent frees, rate n mu, or
    one of the j ahead abandons, rate j theta), so U = e^{-theta V} is Beta(x, k + 1) (the
    order-statistics form of that sum, continued to real x with the incomplete beta). The
    caller is answered within t if V <= t and their own patience outlasts V:
    E[U; U >= e^{-theta t}] = x / (x + k + 1) (1 - I_{e^{-theta t}}(x + 1, k + 1)). Queue
    lengths k seen on arrival weigh y^k / ((x + 1) ... (x + k)) (PASTA), summed in log space
    over the range that holds all but a negligible share of them."""
    top = math.ceil(max(y - x, 0.0) + 12 * math.sqrt(y + 1) + 50)
    k = np.arange(top + 1, dtype=float)
    log_w = k * math.log(y) - (gammaln(x + k + 1) - gammaln(x + 1)) if y > 0 else \
        np.where(k == 0, 0.0, -np.inf)
    w = np.exp(log_w - log_w.max())
    q = math.exp(-theta * within_s) if math.isfinite(within_s) else 0.0
    served = x / (x + k + 1) * (1 - betainc(x + 1, k + 1, q))
    return float(np.dot(w, served) / w.sum())


def erlang_a_figures(agents: int, load: float, aht_s: float, patience_s: float,
                     answer_within_s: float = math.inf) -> QueueFigures:
    """M/M/n+M: callers abandon after an exponential patience with mean ``patience_s``.
    Stable at any load. ``service_level`` is the share of all arrivals answered within
    ``answer_within_s`` (by default at all: the share not abandoning); ``asa_s`` is the mean
    wait of all arrivals (served or not), which equals P(abandon) x patience."""
    _check(agents, load)
    if aht_s <= 0 or patience_s <= 0:
        raise ValueError("aht_s and patience_s must be > 0")
    if answer_within_s < 0:
        raise ValueError("answer_within_s must be >= 0")
    if load == 0:
        return QueueFigures(agents, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    if agents == 0:
        return QueueFigures(0, load, 1.0, 0.0, patience_s, 0.0, 1.0)
    mu, theta = 1 / aht_s, 1 / patience_s
    lam = load * mu
    x, y = agents * mu / theta, lam / theta
    inv_a = _inverse_a(x, y)
    b = erlang_b(agents, load)
    p_wait = b / (inv_a * (1 - b) + b)  # = B A / (1 + (A - 1) B)
    rho = lam / (agents * mu)
    p_ab_given_wait = inv_a / rho + 1 - 1 / rho
    p_ab = p_ab_given_wait * p_wait
    occupancy = load * (1 - p_ab) / agents
    if math.isinf(answer_within_s):
        service_level = 1 - p_ab
    else:
        service_level = 1 - p_wait + p_wait * _answered_within_if_waiting(
            x, y, theta, answer_within_s)
    return QueueFigures(agents, load, p_wait, service_level, p_ab * patience_s, occupancy,
                        p_ab)


def queue_figures(agents: int, load: float, aht_s: float, answer_within_s: float,
                  patience_s: float | None = None, concurrency: int = 1) -> QueueFigures:
    """Erlang C, or Erlang A when callers have a ``patience_s``, for ``agents`` who each
    work up to ``concurrency`` contacts at once. The slot model: each agent is
    ``concurrency`` servers of one queue, each contact holding a slot for its handle time
    (``aht_s`` is that time as measured while agents run at that concurrency). Occupancy is
    per slot. ``agents`` in the answer is the agents, not the slots."""
    if concurrency < 1 or int(concurrency) != concurrency:
        raise ValueError("concurrency must be a whole number >= 1")
    slots = agents * concurrency
    if patience_s is None:
        figures = erlang_c_figures(slots, load, aht_s, answer_within_s)
    else:
        figures = erlang_a_figures(slots, load, aht_s, patience_s, answer_within_s)
    return QueueFigures(agents, figures.load, figures.probability_wait, figures.service_level,
                        figures.asa_s, figures.occupancy, figures.probability_abandon)


def required_agents(load: float, aht_s: float, *, service_level: float | None = None,
                    answer_within_s: float = 20.0, asa_s: float | None = None,
                    max_occupancy: float = 1.0, patience_s: float | None = None,
                    concurrency: int = 1) -> int:
    """The fewest agents meeting a service-level target (x answered within t seconds) or an
    ASA target, and the occupancy cap; by Erlang C, or by Erlang A with ``patience_s``, each
    agent working up to ``concurrency`` contacts at once (see ``queue_figures``). Searches by
    doubling then bisection: O(log n) evaluations, not one per agent."""
    if (service_level is None) == (asa_s is None):
        raise ValueError("give exactly one of service_level or asa_s")
    if service_level is not None and not 0 < service_level < 1:
        raise ValueError("service_level must be between 0 and 1 (exclusive)")
    if not 0 < max_occupancy <= 1:
        raise ValueError("max_occupancy must be in (0, 1]")
    if patience_s is not None and patience_s <= 0:
        raise ValueError("patience_s must be > 0")
    _check(0, load)
    if load == 0:
        return 0

    def meets(n: int) -> bool:
        if patience_s is None and (n * concurrency <= load
                                   or load / (n * concurrency) > max_occupancy):
            return False  # unstable, or over the cap: no need to evaluate
        figures = queue_figures(n, load, aht_s, answer_within_s, patience_s, concurrency)
        if figures.occupancy > max_occupancy:
            return False
        if service_level is not None:
            return figures.service_level >= service_level
        assert asa_s is not None
        return figures.asa_s <= asa_s

    if patience_s is None:
        low = math.floor(load / concurrency)  # never enough: unstable at n k <= load
    elif meets(0):
        return 0
    else:
        low = 0  # Erlang A is stable at any n, so only zero agents is known to fall short
    step = 1
    high = low + step
    while not meets(high):
        low = high
        step *= 2
        high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    return high


def scheduled_headcount(agents: int, shrinkage: float) -> int:
    """Agents to schedule so ``agents`` are on the phones after shrinkage (breaks,
    training, absence)."""
    if not 0 <= shrinkage < 1:
        raise ValueError("shrinkage must be in [0, 1)")
    return math.ceil(agents / (1 - shrinkage) - 1e-9)
