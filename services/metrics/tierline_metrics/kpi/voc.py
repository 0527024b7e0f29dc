"""Voice of the customer: a day's count on one issue type tested against its trailing
baseline. Pure (scipy for the Poisson tail).

The count of contacts on a key in a day is taken as Poisson with the rate of the trailing
``baseline_days`` (the mean daily count there, plus half a contact over the whole baseline
so a quiet key still has a rate). A day is a spike when P(X >= observed) under that rate is
below ``alpha`` and at least ``min_count`` contacts came: the threshold scales with the
key's own volume, so 12 contacts spike a key that gets 2 a day and not one that gets 10.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from scipy.stats import poisson

Kind = Literal["contact_spike", "how_to_growth", "escalation_cluster"]
Dimension = Literal["category", "subcategory", "product"]

HOW_TO = re.compile(r"\bhow\s+(do|can|should|would)\s+(i|we)\b|\bhow\s+to\b", re.IGNORECASE)


@dataclass(frozen=True)
class Contact:
    day: date
    category: str
    subcategory: str | None = None
    product: str | None = None
    title: str = ""
    escalated: bool = False  # an escalation on it that day (one row per escalation)


@dataclass(frozen=True)
class Signal:
    kind: Kind
    dimension: Dimension
    key: str
    day: date
    observed: int
    expected: float
    p_value: float


def is_how_to(title: str) -> bool:
    return HOW_TO.search(title) is not None


def tail(history: Sequence[int], observed: int) -> tuple[float, float]:
    """(expected daily count, P(X >= observed)) under the baseline's Poisson rate."""
    rate = (sum(history) + 0.5) / len(history)
    return rate, float(poisson.sf(observed - 1, rate))


def _keys(c: Contact) -> list[tuple[Dimension, str]]:
    keys: list[tuple[Dimension, str]] = [("category", c.category)]
    if c.subcategory:
        keys.append(("subcategory", f"{c.category}/{c.subcategory}"))
    if c.product:
        keys.append(("product", c.product))
    return keys


def detect(contacts: Iterable[Contact], day: date, baseline_days: int = 14,
           alpha: float = 0.001, min_count: int = 5) -> list[Signal]:
    """Signals for ``day``: contact spikes per category, subcategory and product, growth of
    "how do I" contacts per category, and escalation clusters per issue type
    (subcategory, else category)."""
    counts: dict[tuple[Kind, Dimension, str], Counter[date]] = {}
    first = day - timedelta(days=baseline_days)
    for c in contacts:
        if not first <= c.day <= day:
            continue
        if c.escalated:
            dimension, key = _keys(c)[1] if c.subcategory else _keys(c)[0]
            counts.setdefault(("escalation_cluster", dimension, key), Counter())[c.day] += 1
            continue
        for dimension, key in _keys(c):
            counts.setdefault(("contact_spike", dimension, key), Counter())[c.day] += 1
        if is_how_to(c.title):
            counts.setdefault(("how_to_growth", "category", c.category), Counter())[c.day] += 1
    signals = []
    for (kind, dimension, key), by_day in sorted(counts.items()):
        observed = by_day[day]
        if observed < min_count:
            continue
        history = [by_day[day - timedelta(days=i)] for i in range(1, baseline_days + 1)]
        expected, p = tail(history, observed)
        if p < alpha:
            signals.append(Signal(kind, dimension, key, day, observed, round(expected, 4), p))
    return signals
