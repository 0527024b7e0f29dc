"""Confidence intervals for the mean of a steady-state simulation output, by batch means.

The waits of successive tickets in a queue are strongly correlated, so the textbook interval
(mean +- t s / sqrt(n)) over the tickets themselves is far too narrow. Batch means (Law and
Kelton, *Simulation Modeling and Analysis*, 5th ed., section 9.5.3) cut the sequence, after
its warm-up, into ``k`` contiguous batches of equal size: when the batches are long enough,
their means are nearly independent and nearly normal, and the Student t interval over the
``k`` batch means holds. The lag-1 autocorrelation of the batch means is reported so that a
reader can see whether the batches were long enough (near zero: yes). Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import t as student_t


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    batches: int
    batch_size: int
    lag1: float  # lag-1 autocorrelation of the batch means; nan with fewer than 3 batches
    confidence: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high,
                "half_width": self.half_width, "batches": self.batches,
                "batch_size": self.batch_size, "lag1": self.lag1,
                "confidence": self.confidence}


def t_interval(values: Sequence[float], confidence: float = 0.95,
               batch_size: int = 1) -> Interval:
    """Student t interval for the mean of ``values`` taken as independent, normal draws
    (here: batch means)."""
    k = len(values)
    if k < 2:
        raise ValueError(f"need at least 2 values for an interval, got {k}")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    mean = math.fsum(values) / k
    deviations = [v - mean for v in values]
    variance = math.fsum(d * d for d in deviations) / (k - 1)
    half = float(student_t.ppf((1 + confidence) / 2, k - 1)) * math.sqrt(variance / k)
    lag1 = math.nan
    if k >= 3 and variance > 0:
        lag1 = (math.fsum(deviations[i] * deviations[i + 1] for i in range(k - 1))
                / math.fsum(d * d for d in deviations))
    return Interval(mean, mean - half, mean + half, k, batch_size, lag1, confidence)


def batch_means(observations: Sequence[float], batches: int = 20, confidence: float = 0.95,
                warmup: int = 0) -> Interval:
    """The batch-means interval of ``observations`` (in the order they happened) after
    dropping the first ``warmup``. ``batches`` contiguous batches of ``len // batches``
    observations each; the few left over at the end are dropped, so every batch weighs the
    same."""
    if batches < 2:
        raise ValueError("batches must be >= 2")
    if warmup < 0:
        raise ValueError("warmup must be >= 0")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    kept = observations[warmup:]
    size = len(kept) // batches
    if size < 1:
        raise ValueError(f"{len(kept)} observations after the warm-up cannot make "
                         f"{batches} batches")
    means = [math.fsum(kept[b * size:(b + 1) * size]) / size for b in range(batches)]
    return t_interval(means, confidence, size)

